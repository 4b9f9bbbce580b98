"""The command line through the installed `ragbot` console script, as a user runs it (DESIGN §8 contract)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragbot.texts import DEGRADED_NOTE
from tests.conftest import HANDBOOK
from tests.fakes.pdf import make_pdf
from tests.fakes.tgi import FakeTgi

RAGBOT = Path(sys.executable).with_name("ragbot")


def ragbot(
    *args: str, data_dir: Path, stdin: str | None = None, settings: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGBOT_")}
    env.update({"RAGBOT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    env.update(settings or {})
    return subprocess.run(
        [str(RAGBOT), *args], input=stdin, capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def handbook_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("store")
    done = ragbot("ingest", str(HANDBOOK), "--json", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["added"] == report["documents_total"] >= 20
    assert report["failed"] == []
    return data_dir


def test_ask_json_follows_the_contract(handbook_store: Path) -> None:
    done = ragbot("ask", "How many days of annual leave do I get?", "--json", data_dir=handbook_store)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert {"question", "answer", "refused", "citations", "passages", "model", "timings_ms"} <= set(body)
    assert not body["refused"]
    assert "25" in body["answer"]
    first = body["citations"][0]
    assert set(first) >= {"n", "doc_id", "chunk_id", "title", "url", "heading_path", "snippet"}
    assert first["doc_id"] == "hr/leave-policy.md"
    assert f"[{first['n']}]" in body["answer"]
    assert [p["rank"] for p in body["passages"]] == list(range(1, len(body["passages"]) + 1))
    assert set(body["passages"][0]) == {"rank", "doc_id", "chunk_id", "score"}
    assert body["timings_ms"]["total"] > 0


def test_restricted_documents_need_the_principal(handbook_store: Path) -> None:
    question = "What is the budget for merit increases in 2026?"
    public = json.loads(ragbot("ask", question, "--json", data_dir=handbook_store).stdout)
    hr = json.loads(ragbot("ask", question, "--json", "--as", "*", "--as", "group:hr", data_dir=handbook_store).stdout)
    assert all(not p["doc_id"].startswith("hr/compensation/") for p in public["passages"])
    assert hr["citations"][0]["doc_id"] == "hr/compensation/bonus-plan.md" or any(
        c["doc_id"].startswith("hr/compensation/") for c in hr["citations"]
    )
    assert "4.5 percent" in hr["answer"]


def test_human_output_lists_numbered_sources(handbook_store: Path) -> None:
    done = ragbot("ask", "What address do I enter in the VPN client?", data_dir=handbook_store)
    assert done.returncode == 0, done.stderr
    assert "gp.kestrel.example" in done.stdout
    assert "Sources:" in done.stdout
    assert "VPN setup guide" in done.stdout
    assert "it/archive" not in done.stdout


def test_chat_answers_each_line_until_end_of_input(handbook_store: Path) -> None:
    done = ragbot("chat", data_dir=handbook_store, stdin="When is the weekly all-hands?\n\n")
    assert done.returncode == 0, done.stderr
    assert "Wednesday" in done.stdout
    assert done.stdout.count("ragbot>") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "   "], "question is empty"),
        (["ask", "hello", "--bogus"], "unrecognized arguments: --bogus"),
        (["ingest", "no/such/folder"], "no such file or folder"),
        (["eval", "retrieval", "--corpus", "c.jsonl"], "required"),
        (["eval", "retrieval", "--corpus", "c", "--queries", "q", "--qrels", "r", "--k", "0"], "at least 1"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_gives_one_line_and_a_non_zero_exit(tmp_path: Path, args: list[str], message: str) -> None:
    done = ragbot(*args, data_dir=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ragbot: error:")
    assert message in lines[0]


def test_asking_an_empty_index_says_what_to_do(tmp_path: Path) -> None:
    done = ragbot("ask", "anything?", data_dir=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "ragbot: error: the index is empty: run 'ragbot ingest PATH' first"


def test_ingest_reports_bad_files_skips_them_and_is_incremental(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(HANDBOOK / "it", docs)
    (docs / "scan.pdf").write_bytes(make_pdf([]))
    store = tmp_path / "store"
    first = ragbot("ingest", str(docs), "--json", data_dir=store)
    assert first.returncode == 1
    report = json.loads(first.stdout)
    assert [f["doc_id"] for f in report["failed"]] == ["scan.pdf"]
    assert report["added"] == 6
    assert "1 document(s) could not be ingested; the rest were" in first.stderr

    (docs / "scan.pdf").unlink()
    (docs / "printing-and-wifi.txt").unlink()
    second = ragbot("ingest", str(docs), "--prune", "--json", data_dir=store)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) | {"seconds": 0} == {
        "added": 0,
        "updated": 0,
        "unchanged": 5,
        "removed": 1,
        "chunks": 0,
        "duplicates": [],
        "failed": [],
        "seconds": 0,
        "documents_total": 5,
        "chunks_total": json.loads(second.stdout)["chunks_total"],
    }


def test_eval_retrieval_on_a_small_beir_set(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {"_id": "d1", "title": "Vitamin D", "text": "Vitamin D deficiency is linked to bone loss."},
                {"_id": "d2", "title": "Green tea", "text": "Green tea contains catechins with antioxidant effects."},
                {"_id": "d3", "title": "Sleep", "text": "Adults need seven to nine hours of sleep each night."},
            ]
        )
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"_id": "q1", "text": "does vitamin d help bones"}\n{"_id": "q2", "text": "tea antioxidants"}\n'
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\td2\t1\n")
    args = ["eval", "retrieval", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels)]

    done = ragbot(*args, "--mode", "bm25", "--json", data_dir=tmp_path / "unused")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert set(body) == {
        "mode",
        "queries",
        "ndcg@10",
        "recall@10",
        "recall@100",
        "mrr@10",
        "index_s",
        "query_ms_p50",
        "query_ms_p95",
    }
    assert (body["mode"], body["queries"], body["ndcg@10"], body["mrr@10"]) == ("bm25", 2, 1.0, 1.0)
    assert not (tmp_path / "unused").exists()  # a fresh temporary store, never the user's

    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\n")
    bad = ragbot(*args, data_dir=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "ragbot: error: qrels.tsv:2: expected 3 tab-separated fields, got 2"


# -- with a model server (RAGBOT_TGI__URL): the fake speaks TGI's routes to the real InferenceClient ------------------


def test_ask_answers_with_the_model_when_a_server_is_configured(handbook_store: Path) -> None:
    with FakeTgi(adapters=("handbook-v3",)) as tgi:
        settings = {"RAGBOT_TGI__URL": tgi.url, "RAGBOT_TGI__ADAPTER": "handbook-v3"}
        settings["RAGBOT_TGI__SERVED_ADAPTERS"] = '["handbook-v3"]'
        done = ragbot(
            "ask", "How many days of annual leave do I get?", "--json", data_dir=handbook_store, settings=settings
        )
        assert done.returncode == 0, done.stderr
        body = json.loads(done.stdout)
        [request] = tgi.chat_requests()
    assert body["model"] == "ragbot/handbook-assistant-8b" and body["adapter"] == "handbook-v3"
    assert body["prompt_version"] == "grounded-v1" and request["model"] == "handbook-v3"
    assert body["answer"].endswith("[1]") and not body["refused"]
    assert body["citations"][0]["n"] == 1 and body["citations"][0]["doc_id"] == body["passages"][0]["doc_id"]
    # The model saw the sources it cites, numbered like the passages.
    assert f"[1] {body['citations'][0]['title']}" in request["messages"][-1]["content"]


def test_ask_falls_back_to_the_documents_when_the_server_is_down(handbook_store: Path) -> None:
    with FakeTgi() as tgi:
        url = tgi.url  # stopped on leaving the block: nothing listens there now
    settings = {"RAGBOT_TGI__URL": url, "RAGBOT_TGI__DEADLINE_S": "3"}
    done = ragbot("ask", "How many days of annual leave do I get?", data_dir=handbook_store, settings=settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(DEGRADED_NOTE) and "\nSources:\n  [1]" in done.stdout
