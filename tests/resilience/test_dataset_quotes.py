"""A fine-tuning dataset never teaches restricted text (issue 17: `ragbot finetune dataset` kept an example whose
answer quoted a restricted HR document while citing only a public one; only the cited sources' ACLs were checked).

Each sentence of an answer is compared by word 3-grams with the passages it could come from; one that quotes a
passage only other principals may read, more than any passage `--allow` may read, keeps the question out, whether the
passage was shown with the answer or not (a reviewer's correction can quote anything).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.ingestion import Chunker, ingest, open_source
from tests.fakes.hash_embedder import HashEmbedder
from tests.unit.test_finetune_dataset import DOCS, build, logged

QUOTES = "the answer quotes a passage --allow may not read"
BANDS = "Band 4 pays between 80 and 95 thousand a year."  # hr/compensation/bands.md: group:hr only


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    root = tmp_path / "handbook"
    docs = {
        **DOCS,
        # A public page that happens to repeat the car allowance (also in the restricted perks page).
        "company/cars.md": "# Cars\n\nThe car allowance is 400 euros a month for field staff.\n",
        "hr/compensation/perks.md": "# Perks\n\nThe car allowance is 400 euros a month for field staff.\n",
    }
    for name, text in docs.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / ".ragbot-acl.toml").write_text('[[rule]]\npattern = "hr/compensation/*"\nprincipals = ["group:hr"]\n')
    store = EmbeddedIndex(tmp_path / "store")
    ingest([open_source(root)], index=store, embedder=HashEmbedder(), chunker=Chunker())
    yield store
    store.close()


def kept(out: Path) -> set[str]:
    return {
        json.loads(line)["meta"]["question_id"]
        for name in ("train.jsonl", "validation.jsonl")
        for line in (out / name).read_text().splitlines()
    }


def test_an_answer_that_quotes_a_restricted_passage_is_left_out_whatever_it_cites(
    index: EmbeddedIndex, tmp_path: Path
) -> None:
    records = [
        # Cites the public leave page [1], but its second sentence is the HR-only pay band it was shown as [2].
        logged(
            index,
            "quotes-hr",
            "How much leave and pay do I get?",
            ["hr/leave.md", "hr/compensation/bands.md"],
            f"Staff get 25 days of annual leave a year [1]. {BANDS}",
            hours=1,
        ),
        # A reviewer's correction quoting the restricted page, which the answer was never shown.
        logged(
            index,
            "corrected-with-hr",
            "What does band 4 pay?",
            ["it/vpn.md"],
            "Install the VPN [1].",
            hours=2,
            votes="down",
            correction=f"See the leave policy [1]. {BANDS}",
        ),
        logged(index, "public", "How many days of leave?", ["hr/leave.md"], "Staff get 25 days [1].", hours=3),
        # Restricted text that a public page says too: supported by what everyone may read.
        logged(
            index,
            "also-public",
            "What is the car allowance?",
            ["company/cars.md", "hr/compensation/perks.md"],
            "The car allowance is 400 euros a month for field staff [1].",
            hours=4,
        ),
        logged(index, "expenses", "When are claims due?", ["finance/expenses.md"], "Within 30 days [1].", hours=5),
    ]
    card = build(index, records, tmp_path / "public")
    assert kept(tmp_path / "public") == {"public", "also-public", "expenses"}
    assert card["counts"]["skipped"][QUOTES] == 2
    for name in ("train.jsonl", "validation.jsonl"):
        assert "95 thousand" not in (tmp_path / "public" / name).read_text()

    # For an adapter that only HR staff use, the same answers are fine.
    build(index, records, tmp_path / "hr", allow=("*", "group:hr"))
    assert kept(tmp_path / "hr") == {"quotes-hr", "corrected-with-hr", "public", "also-public", "expenses"}
