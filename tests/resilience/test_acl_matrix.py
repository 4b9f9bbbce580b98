"""The ACL leak matrix: audiences × principal sets × entry points, on both stores, however the corpus is ingested.

Four audiences (public, hr, eng, hr+eng), five principal sets (everyone, hr, eng, both, a stranger with no "*"),
and a canary word in every title, heading, sentence, link and file name (`acl_corpus`). The corpus is ingested
whole, one sub-folder at a time, and one file at a time: only the sidecar at the corpus root says who reads what, so
the last two are the ingests that used to publish everything. Every entry point is asked as every principal set:

- retrieval and the answer, as `ragbot ask` and the workers assemble them (`bootstrap.Context`), on the embedded
  store and on Elasticsearch (the fake cluster, through the real client);
- `ragbot eval answers` with `as` on each line, over the folder and over a sub-folder;
- `ragbot ask --as … --json` itself (the command line, in this process, with the real embedding model): a few cells
  always, the whole matrix on both stores in the slow run.

No answer, citation or passage may come from a document outside the asker's audience, and no forbidden canary may
appear anywhere in what comes back; every document the asker may read is found (so no cell passes by being empty).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragbot.bootstrap import Context
from ragbot.cli import main
from ragbot.evaluation.answers import QAItem, evaluate_answers
from ragbot.flow.generate import answer
from ragbot.ingestion import Chunker, Source, ingest, open_source
from ragbot.models import Answer, Passage, Question
from ragbot.ports import DocumentIndex
from ragbot.settings import Settings
from tests.contract.backends import BACKENDS, es_settings, fake_server
from tests.fakes.hash_embedder import HashEmbedder
from tests.resilience.acl_corpus import AUDIENCES, PRINCIPALS, QUESTION, audience_of, leaks, write_corpus

STORES = [name for name in BACKENDS if name in {"embedded", "elasticsearch"}]


def whole(corpus: Path) -> list[Source]:
    return [open_source(corpus)]


def sub_folders(corpus: Path) -> list[Source]:
    return [open_source(corpus / path.split("/")[0]) for _, path, _ in AUDIENCES.values()]


def single_files(corpus: Path) -> list[Source]:
    return [open_source(corpus / path) for _, path, _ in AUDIENCES.values()]


INGESTS: dict[str, Callable[[Path], list[Source]]] = {
    "folder": whole,
    "sub-folders": sub_folders,
    "single files": single_files,
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("matrix") / "corpus")


@pytest.fixture(params=[(store, how) for store in STORES for how in INGESTS], ids=lambda p: f"{p[0]}-{p[1]}")
def ingested(request: pytest.FixtureRequest, corpus: Path, tmp_path: Path) -> Iterator[DocumentIndex]:
    store, how = request.param
    index = BACKENDS[store](tmp_path)
    report = ingest(INGESTS[how](corpus), index=index, embedder=HashEmbedder(), chunker=Chunker())
    assert report.failed == [] and report.added == len(AUDIENCES)
    yield index
    index.close()


def _texts(reply: Answer, passages: list[Passage]) -> list[str]:
    texts = [reply.text, reply.reason]
    for citation in reply.citations:
        texts += [citation.doc_id, citation.chunk_id, citation.title, citation.url, citation.snippet]
    for passage in passages:
        chunk = passage.chunk
        texts += [chunk.doc_id, chunk.title, chunk.url, chunk.heading_path, chunk.text]
    return texts


def _check(principals: str, reply: Answer, passages: list[Passage]) -> None:
    allowed = PRINCIPALS[principals][1]
    assert {audience_of(p.chunk.doc_id) for p in passages} == allowed  # found all it may read, nothing else
    assert {audience_of(c.doc_id) for c in reply.citations} <= allowed
    assert leaks(principals, _texts(reply, passages)) == []


@pytest.mark.parametrize("principals", list(PRINCIPALS))
def test_retrieval_and_answers_never_leave_the_askers_audience(
    ingested: DocumentIndex, principals: str, tmp_path: Path
) -> None:
    context = Context(Settings(data_dir=tmp_path / "data"), embedder=HashEmbedder(), index=ingested)
    asker = PRINCIPALS[principals][0]
    passages = context.retriever.retrieve(QUESTION, principals=asker, k=10).passages
    reply = answer(
        Question(question_id=f"q-{principals}", text=QUESTION, principals=asker), passages, generator=context.generator
    )
    _check(principals, reply, list(passages))


@pytest.mark.parametrize("docs", [".", "hr", "joint"])
def test_eval_answers_as_each_principal_set(corpus: Path, docs: str, tmp_path: Path) -> None:
    items = [
        QAItem.model_validate({"id": name, "question": QUESTION, "answerable": False, "as": list(asker)})
        for name, (asker, _) in PRINCIPALS.items()
    ]
    settings = Settings(data_dir=tmp_path / "data")
    _, records = evaluate_answers(corpus / docs, items, settings=settings, embedder=HashEmbedder())
    in_folder = {name for name, (_, path, _) in AUDIENCES.items() if docs == "." or path.startswith(f"{docs}/")}
    for record in records:
        allowed = PRINCIPALS[record.item.id][1]
        assert {audience_of(p.chunk.doc_id) for p in record.passages} == allowed & in_folder
        assert {audience_of(c.doc_id) for c in record.answer.citations} <= allowed
        assert leaks(record.item.id, _texts(record.answer, record.passages)) == []


# --- the command line: `ragbot ask --as … --json` ------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def _ask_as(principals: str) -> dict[str, object]:
    as_flags = [flag for p in PRINCIPALS[principals][0] for flag in ("--as", p)]
    code, out = _cli("ask", QUESTION, "--json", *as_flags)
    assert code == 0
    body: dict[str, object] = json.loads(out)
    return body


def _check_cli(principals: str, body: dict[str, object], *, ingested: set[str]) -> None:
    allowed = PRINCIPALS[principals][1] & ingested
    passages = body["passages"]
    citations = body["citations"]
    assert isinstance(passages, list) and isinstance(citations, list)
    assert {audience_of(p["doc_id"]) for p in passages} == allowed
    assert {audience_of(c["doc_id"]) for c in citations} <= allowed
    assert leaks(principals, [json.dumps(body)]) == []


def _use_store(monkeypatch: pytest.MonkeyPatch, store: str, tmp_path: Path) -> None:
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAGBOT_RETRIEVAL__TOP_K", "10")
    if store == "elasticsearch":
        settings = es_settings(fake_server().url, tmp_path)
        monkeypatch.setenv("RAGBOT_ELASTICSEARCH__URL", fake_server().url)
        monkeypatch.setenv("RAGBOT_ELASTICSEARCH__ALIAS", settings.alias)
        monkeypatch.setenv("RAGBOT_ELASTICSEARCH__REPLICAS", "0")


@pytest.mark.model
def test_ask_after_ingesting_a_sub_folder_answers_hr_only_to_hr(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_store(monkeypatch, "embedded", tmp_path)
    assert _cli("ingest", str(corpus / "hr"), "--json")[0] == 0
    for principals in ("everyone", "hr", "stranger"):
        _check_cli(principals, _ask_as(principals), ingested={"hr"})


@pytest.mark.slow  # about 45 runs of the command line, each loading the embedding model
@pytest.mark.model
@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("how", ["folder", "sub-folders", "single files"])
def test_ask_as_every_principal_set_after_every_kind_of_ingest(
    corpus: Path, store: str, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_store(monkeypatch, store, tmp_path)
    paths = {
        "folder": [corpus],
        "sub-folders": [corpus / path.split("/")[0] for _, path, _ in AUDIENCES.values()],
        "single files": [corpus / path for _, path, _ in AUDIENCES.values()],
    }[how]
    code, out = _cli("ingest", *map(str, paths), "--json")
    assert code == 0 and json.loads(out)["added"] == len(AUDIENCES)
    for principals in PRINCIPALS:
        _check_cli(principals, _ask_as(principals), ingested=set(AUDIENCES))
