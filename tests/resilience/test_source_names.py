"""Default source names cannot collide (issue 17: `team-a/docs` and `team-b/docs` were both source "docs", so
`--prune` on one removed the other's documents and one's `policy.md` overwrote the other's, silently).

A default name is the folder's name plus 8 hex digits of a hash of its resolved path: stable for one folder,
different for two. An index built before keeps working: a folder re-ingested under its old bare name keeps it when
every document stored under that name is still there; otherwise the ingest stops with one line saying to pass
`--source` (nothing is written), because those documents may be another folder's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.errors import InputError
from ragbot.ingestion import Chunker, IngestReport, ingest, open_source
from tests.fakes.hash_embedder import HashEmbedder


@pytest.fixture
def teams(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "team-a" / "docs", tmp_path / "team-b" / "docs"
    for root, team in ((a, "a"), (b, "b")):
        root.mkdir(parents=True)
        (root / "policy.md").write_text(f"# Policy\n\nTeam {team} ships on Tuesdays only.\n")
        (root / f"only-{team}.md").write_text(f"# Only {team}\n\nTeam {team} owns the {team}-pipeline.\n")
    return a, b


@pytest.fixture
def index(tmp_path: Path) -> Iterator[EmbeddedIndex]:
    store = EmbeddedIndex(tmp_path / "store")
    yield store
    store.close()


def run(index: EmbeddedIndex, root: Path, **options: object) -> IngestReport:
    name = options.pop("source", None)
    source = open_source(root, name=name)  # type: ignore[arg-type]
    return ingest([source], index=index, embedder=HashEmbedder(), chunker=Chunker(), **options)  # type: ignore[arg-type]


def test_two_folders_with_the_same_name_are_two_sources(teams: tuple[Path, Path]) -> None:
    a, b = teams
    name_a, name_b = open_source(a).name, open_source(b).name
    assert re.fullmatch(r"docs-[0-9a-f]{8}", name_a) and re.fullmatch(r"docs-[0-9a-f]{8}", name_b)
    assert name_a != name_b
    assert open_source(a).name == name_a  # the same folder, the same name, every time
    assert open_source(a / "policy.md").name == name_a  # a file is named after its folder


def test_pruning_one_never_removes_or_overwrites_the_others_documents(
    teams: tuple[Path, Path], index: EmbeddedIndex
) -> None:
    a, b = teams
    assert run(index, a, prune=True).added == 2
    report = run(index, b, prune=True)
    # team-b's own document goes in; its policy.md (the same id) is refused, team-a's stays as it was.
    assert (report.added, report.removed) == (1, 0)
    assert [doc_id for doc_id, _ in report.failed] == ["policy.md"]
    assert "already ingested from source" in report.failed[0][1]
    stored = index.documents()
    assert {"only-a.md", "policy.md"} <= set(stored)
    assert stored["policy.md"].source == open_source(a).name
    assert "Team a ships" in index.chunks(["policy.md#0"])["policy.md#0"].text
    # Pruning team-a again removes nothing of team-b's.
    assert run(index, a, prune=True).removed == 0
    assert "only-b.md" in index.documents()


def test_a_folder_indexed_under_its_old_name_keeps_it(teams: tuple[Path, Path], index: EmbeddedIndex) -> None:
    a, _ = teams
    run(index, a, source="docs")  # what the default name was before it carried a hash of the path
    (a / "policy.md").write_text("# Policy\n\nTeam a ships on Wednesdays now.\n")
    report = run(index, a, prune=True)
    assert (report.updated, report.unchanged, report.added, report.removed, report.failed) == (1, 1, 0, 0, [])
    assert {d.source for d in index.documents().values()} == {"docs"}


def test_an_old_name_that_may_be_another_folders_needs_source(teams: tuple[Path, Path], index: EmbeddedIndex) -> None:
    a, b = teams
    run(index, a, source="docs")  # team-a under the old default name
    before = index.documents()
    with pytest.raises(InputError) as refused:
        run(index, b, prune=True)
    message = str(refused.value)
    assert "\n" not in message and "--source docs" in message and "--source NAME" in message
    assert str(b) in message and "'only-a.md'" in message
    assert index.documents() == before  # nothing written, nothing pruned
    # The operator names it: a name of its own works at once.
    assert [doc_id for doc_id, _ in run(index, b, source="team-b-docs").failed] == ["policy.md"]
    assert "only-b.md" in index.documents() and "only-a.md" in index.documents()
