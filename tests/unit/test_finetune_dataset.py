"""`ragbot finetune dataset`: which logged answers become examples, how their sources are shown, what never gets in."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.errors import InputError
from ragbot.generation.citations import cite, cited_numbers
from ragbot.generation.prompting import build_prompt
from ragbot.ingestion import Chunker, ingest, open_source
from ragbot.interactions.records import FeedbackEntry, InteractionRecord, UserHasher, outcome_record
from ragbot.learning.dataset import DatasetOptions, DatasetTooSmall, build_dataset, load_dataset
from ragbot.models import Answer, ConversationRef, Outcome, Passage, Question
from ragbot.texts import MODEL_REFUSAL
from tests.fakes.hash_embedder import HashEmbedder

HASHER = UserHasher("k")
START = datetime(2026, 11, 1, tzinfo=UTC)
DOCS = {
    "hr/leave.md": "# Leave\n\nStaff get 25 days of annual leave a year. Ask hr@corp.example about carry-over.\n",
    "it/vpn.md": "# VPN\n\nInstall the VPN client from the self-service portal before you travel.\n",
    "finance/expenses.md": "# Expenses\n\nExpense claims must be filed within 30 days of the purchase.\n",
    "company/holidays.md": "# Holidays\n\nThe office closes on 24 December and reopens on 2 January.\n",
    "it/laptops.md": "# Laptops\n\nLaptops are replaced every three years; annual leave does not pause the cycle.\n",
    "company/parking.md": "# Parking\n\nParking permits are issued by facilities for a year at a time.\n",
    "hr/compensation/bands.md": "# Salary bands\n\nBand 4 pays between 80 and 95 thousand a year.\n",
}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    root = tmp_path / "handbook"
    for name, text in DOCS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / ".ragbot-acl.toml").write_text('[[rule]]\npattern = "hr/compensation/*"\nprincipals = ["group:hr"]\n')
    store = EmbeddedIndex(tmp_path / "store")
    ingest([open_source(root)], index=store, embedder=HashEmbedder(), chunker=Chunker())
    yield store
    store.close()


def logged(
    index: EmbeddedIndex,
    qid: str,
    text: str,
    shown: Sequence[str],
    answer: str,
    *,
    hours: int,
    votes: str = "up",
    correction: str = "",
    **changes: object,
) -> InteractionRecord:
    """A record as the reply hop writes it: `shown` docs ranked 1.., `answer` citing them, then the votes."""
    chunks = index.chunks([f"{doc}#0" for doc in shown])
    passages = [Passage(chunk=chunks[f"{doc}#0"], score=1.0 / n, rank=n) for n, doc in enumerate(shown, start=1)]
    cited = [p for p in passages if p.rank in cited_numbers(answer)]
    question = Question(
        question_id=qid,
        text=text,
        asker="U1",
        conversation=ConversationRef(platform="slack", channel="C1"),
        asked_at=(START + timedelta(hours=hours)).timestamp(),
    )
    reply = Answer(text=answer, citations=tuple(cite(p) for p in cited), model="extractive")
    record = outcome_record(
        Outcome(question=question, answer=reply, passages=tuple(passages)), hasher=HASHER, timings_ms={}
    )
    at = START + timedelta(hours=hours, minutes=5)
    feedback = [
        FeedbackEntry(user_hash=f"u{i}", value="up" if v == "+" else "down", given_at=at)
        for i, v in enumerate(votes.replace("up", "+").replace("down", "-"))
    ]
    if correction:
        feedback.append(FeedbackEntry(user_hash="reviewer", value="down", correction=correction, given_at=at))
    return record.model_copy(update={"feedback": tuple(feedback), **changes})


def build(index: EmbeddedIndex, records: list[InteractionRecord], out: Path, **options: object) -> dict:  # type: ignore[type-arg]
    values: dict[str, object] = {"min_examples": 1, "refusal_share": 0.0, **options}
    return build_dataset(records, index=index, out=out, options=DatasetOptions(**values))  # type: ignore[arg-type]


def lines(out: Path) -> list[dict]:  # type: ignore[type-arg]
    return [
        json.loads(line)
        for name in ("train.jsonl", "validation.jsonl")
        for line in (out / name).read_text().splitlines()
    ]


def test_liked_answers_and_corrections_become_examples_and_the_rest_is_counted(
    index: EmbeddedIndex, tmp_path: Path
) -> None:
    records = [
        logged(index, "old-dup", "How many days of leave do I get?", ["hr/leave.md"], "25 days [1].", hours=0),
        logged(
            index,
            "liked",
            "How many days of leave do I get?",
            ["hr/leave.md", "it/vpn.md"],
            "Staff get 25 days of annual leave a year [1].",
            hours=1,
        ),
        logged(index, "disliked", "Where is the VPN?", ["it/vpn.md"], "From the portal [1].", hours=2, votes="down"),
        logged(
            index,
            "corrected",
            "When are expense claims due?",
            ["it/vpn.md", "finance/expenses.md"],
            "Install the VPN [1].",
            hours=3,
            votes="down",
            correction="Within 30 days of the purchase [2].",
        ),
        logged(index, "refused", "What is the dress code?", ["company/parking.md"], "x", hours=4, status="refused"),
        logged(
            index, "follow-up", "And in January?", ["company/holidays.md"], "2 January [1].", hours=5, history_turns=2
        ),
        logged(
            index,
            "no-vote",
            "When does the office close?",
            ["company/holidays.md"],
            "24 December [1].",
            hours=6,
            votes="",
        ),
        logged(
            index,
            "not-documented",
            "Can I bring my dog to the office?",
            ["company/parking.md"],
            "Parking permits are issued by facilities [1].",
            hours=7,
            votes="down",
            correction="I don't know: no document covers pets in the office.",
        ),
    ]
    card = build(index, records, tmp_path / "ds")
    counts = card["counts"]
    assert counts["records"] == 8 and counts["questions"] == 3
    assert counts["by_kind"] == {"answer": 1, "correction": 1, "refusal": 1}
    assert counts["skipped"] == {
        "duplicate question": 1,
        "👎 outweigh 👍, not corrected": 1,
        "refused, not corrected": 1,
        "a follow-up (its thread is not logged)": 1,
        "no feedback": 1,
    }
    by_id = {row["meta"]["question_id"]: row for row in lines(tmp_path / "ds")}
    assert set(by_id) == {"liked", "corrected", "not-documented"}  # the newer duplicate won
    corrected = by_id["corrected"]
    (expenses,) = [s for s in corrected["meta"]["sources"] if s["doc_id"] == "finance/expenses.md"]
    assert corrected["completion"][0]["content"] == f"Within 30 days of the purchase [{expenses['n']}]."
    refusal = by_id["not-documented"]
    assert refusal["meta"]["kind"] == "refusal" and refusal["meta"]["cited"] == []
    assert refusal["completion"][0]["content"] == "I don't know: no document covers pets in the office."


def test_sources_are_shown_as_production_shows_them_shuffled_and_mixed_with_distractors(
    index: EmbeddedIndex, tmp_path: Path
) -> None:
    records = [
        logged(
            index,
            f"q{i}",
            f"How many days of annual leave do I get in year {i}?",
            ["it/vpn.md", "hr/leave.md"],
            "Staff get 25 days of annual leave a year [2].",
            hours=i,
        )
        for i in range(8)
    ]
    build(index, records, tmp_path / "ds", distractors=2)
    positions = set()
    for row in lines(tmp_path / "ds"):
        meta, answer = row["meta"], row["completion"][0]["content"]
        sources = {s["n"]: s for s in meta["sources"]}
        (n,) = meta["cited"]
        assert sources[n]["chunk_id"] == "hr/leave.md#0" and answer.endswith(f"[{n}].")
        positions.add(n)
        distractors = [s for s in meta["sources"] if s["distractor"]]
        assert len(distractors) == 2 and not {s["doc_id"] for s in distractors} & {"it/vpn.md", "hr/leave.md"}
        assert "hr/compensation/bands.md" not in {s["doc_id"] for s in meta["sources"]}  # not public
        # The prompt is the one production sends for a Slack question over these sources.
        system, user = row["prompt"]
        chunks = index.chunks([s["chunk_id"] for s in meta["sources"]])
        passages = [Passage(chunk=chunks[s["chunk_id"]], score=0.0, rank=s["n"]) for s in meta["sources"]]
        question = Question(question_id="x", text=meta["question"], conversation=ConversationRef(platform="slack"))
        expected = build_prompt(question, passages, budget_tokens=4096, max_passages=10)
        assert system == expected.messages[0]
        assert user["content"].startswith("<sources>\n[1] ") and user["content"].endswith(
            f"Question: {meta['question']}"
        )
        assert meta["prompt_version"] == "grounded-v1"
    assert len(positions) > 1  # the right source is not always in the same place


def test_restricted_changed_and_missing_sources_never_reach_a_dataset(index: EmbeddedIndex, tmp_path: Path) -> None:
    changed = logged(
        index, "changed", "How long do I have to file expenses?", ["finance/expenses.md"], "30 days [1].", hours=1
    )
    stale = changed.model_copy(
        update={"retrieved": tuple(r.model_copy(update={"content_hash": "0" * 64}) for r in changed.retrieved)}
    )
    records = [
        logged(index, "restricted", "What does band 4 pay?", ["hr/compensation/bands.md"], "80 to 95k [1].", hours=0),
        stale,
        logged(
            index,
            "mixed",
            "When does the office close for the holidays?",
            ["hr/compensation/bands.md", "company/holidays.md"],
            "On 24 December [2].",
            hours=2,
        ),
        logged(index, "vpn", "How do I get the VPN?", ["it/vpn.md"], "From the portal [1].", hours=3),
    ]
    card = build(index, records, tmp_path / "public")
    assert card["counts"]["skipped"] == {
        "documents not everyone may read (--allow)": 1,
        "a cited source changed or was removed since": 1,
    }
    rows = {row["meta"]["question_id"]: row for row in lines(tmp_path / "public")}
    assert set(rows) == {"mixed", "vpn"}
    assert "hr/compensation/bands.md" not in {s["doc_id"] for s in rows["mixed"]["meta"]["sources"]}
    assert "Band 4" not in json.dumps(rows)
    # Trained for HR's own assistant, the restricted answer may go in.
    card = build(index, records, tmp_path / "hr", allow=("*", "group:hr"))
    assert card["counts"]["questions"] == 3 and card["filters"]["allow"] == ["*", "group:hr"]


def test_personal_data_is_redacted_everywhere(index: EmbeddedIndex, tmp_path: Path) -> None:
    records = [
        logged(
            index,
            f"q{i}",
            f"I'm ana@corp.example, call +44 20 7946 0958: how much leave ({i})?",
            ["hr/leave.md"],
            "25 days a year [1]; ask hr@corp.example.",
            hours=i,
        )
        for i in range(3)
    ]
    build(index, records, tmp_path / "ds")
    body = (tmp_path / "ds" / "train.jsonl").read_text() + (tmp_path / "ds" / "validation.jsonl").read_text()
    assert "corp.example" not in body and "7946" not in body
    assert "[email]" in body


def test_refusals_are_taught_with_sources_that_lack_the_answer(index: EmbeddedIndex, tmp_path: Path) -> None:
    records = [
        logged(
            index, f"q{i}", f"How many leave days in year {i}?", ["hr/leave.md", "it/vpn.md"], "25 days [1].", hours=i
        )
        for i in range(4)
    ]
    card = build(index, records, tmp_path / "ds", refusal_share=1.0, distractors=2)
    assert card["counts"]["by_kind"] == {"answer": 4, "refusal": 4}
    for row in lines(tmp_path / "ds"):
        if row["meta"]["kind"] == "refusal":
            assert row["completion"][0]["content"] == MODEL_REFUSAL and row["meta"]["cited"] == []
            docs = {s["doc_id"] for s in row["meta"]["sources"]}
            assert docs and not docs & {"hr/leave.md", "it/vpn.md"}  # none of what the question retrieved


def test_the_split_is_by_time_and_a_small_log_is_refused_with_reasons(index: EmbeddedIndex, tmp_path: Path) -> None:
    records = [
        logged(index, f"q{i:02}", f"Question number {i} about leave?", ["hr/leave.md"], "25 days [1].", hours=i)
        for i in range(10)
    ]
    records.append(logged(index, "late-no", "Is the VPN required?", ["it/vpn.md"], "Yes [1].", hours=20, votes="-"))
    card = build(index, records, tmp_path / "ds", validation_share=0.3)
    assert (card["counts"]["train"], card["counts"]["validation"]) == (7, 3)
    dataset = load_dataset(tmp_path / "ds")
    latest_train = max(row["meta"]["asked_at"] for row in dataset.train)
    assert all(row["meta"]["asked_at"] > latest_train for row in dataset.validation)
    assert card["split"]["validation_from"] == dataset.validation[0]["meta"]["asked_at"]

    with pytest.raises(DatasetTooSmall) as refused:
        build(index, records, tmp_path / "small", min_examples=50)
    assert str(refused.value).startswith("only 10 usable examples from 11 logged questions; at least 50 are needed")
    assert "1 👎 outweigh 👍, not corrected" in str(refused.value)
    assert not (tmp_path / "small").exists()


def test_datasets_are_not_overwritten_and_a_changed_file_is_noticed(index: EmbeddedIndex, tmp_path: Path) -> None:
    records = [
        logged(index, f"q{i}", f"Leave question {i}?", ["hr/leave.md"], "25 days [1].", hours=i) for i in range(3)
    ]
    card = build(index, records, tmp_path / "ds")
    assert load_dataset(tmp_path / "ds").hash == card["hash"]
    with pytest.raises(InputError, match="already holds a dataset"):
        build(index, records, tmp_path / "ds")
    train = tmp_path / "ds" / "train.jsonl"
    train.write_text(train.read_text().replace("25 days", "26 days"))
    with pytest.raises(InputError, match="changed since the dataset was built"):
        load_dataset(tmp_path / "ds")
    with pytest.raises(InputError, match="not a dataset folder"):
        load_dataset(tmp_path)


def test_follow_ups_stay_out_even_when_liked(index: EmbeddedIndex, tmp_path: Path) -> None:
    """Production prompted a follow-up with its thread, which the log does not keep: the example would lie."""
    record = logged(index, "f", "And after that?", ["hr/leave.md"], "25 days [1].", hours=0, history_turns=1)
    with pytest.raises(DatasetTooSmall, match="1 a follow-up"):
        build(index, [record], tmp_path / "ds")
