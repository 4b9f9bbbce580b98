"""The command line on the Elasticsearch store: ingest, ask, versions, rollback, forget, as operators run them.

The console script runs in its own process and talks HTTP to the validating fake cluster in this one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import ragbot
from tests.conftest import HANDBOOK, REPO
from tests.contract.backends import es_settings, fake_server

LEAVE = "How many days of annual leave do I get?"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Settings of a fresh alias on the fake cluster, with the handbook ingested."""
    settings = es_settings(fake_server().url, tmp_path_factory.mktemp("es"))
    env = {
        "RAGBOT_ELASTICSEARCH__URL": fake_server().url,
        "RAGBOT_ELASTICSEARCH__ALIAS": settings.alias,
        "RAGBOT_ELASTICSEARCH__REPLICAS": "0",
        "RAGBOT_DIRECTORY__PATH": str(REPO / "examples" / "principals.json"),
        # With Elasticsearch the built-in key of the interaction log's user hash is refused.
        "RAGBOT_INTERACTIONS__USER_HASH_KEY": "cli-elasticsearch-test-key",
    }
    done = ragbot("ingest", str(HANDBOOK), "--json", data_dir=Path("unused"), settings=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["documents_total"] >= 20
    return env


def cli(cluster: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = ragbot(*args, data_dir=Path("unused"), settings=cluster)
    return done.returncode, done.stdout, done.stderr


def test_ask_answers_from_elasticsearch_and_respects_the_directory(cluster: dict[str, str]) -> None:
    code, out, err = cli(cluster, "ask", LEAVE, "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["citations"][0]["doc_id"] == "hr/leave-policy.md" and "25" in body["answer"]

    merit = "what's the overall budget for merit raises in 2026?"
    code, out, _ = cli(cluster, "ask", merit, "--user", "Ana@Kestrel.example", "--json")  # group:hr
    assert "hr/compensation/salary-bands.md" in {c["doc_id"] for c in json.loads(out)["citations"]}
    code, out, _ = cli(cluster, "ask", merit, "--user", "liam@kestrel.example", "--json")  # engineering only
    assert not any(p["doc_id"].startswith("hr/compensation/") for p in json.loads(out)["passages"])


def test_versions_reindex_and_rollback(cluster: dict[str, str]) -> None:
    code, out, _ = cli(cluster, "index", "versions", "--json")
    (first,) = json.loads(out)["versions"]
    assert (first["version"], first["live"], first["embedding_model"]) == (1, True, "all-MiniLM-L6-v2")

    code, out, err = cli(cluster, "ingest", str(HANDBOOK), "--reindex", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["version"], report["activated"], report["not_carried"]) == (2, True, [])

    code, out, _ = cli(cluster, "index", "versions")
    assert out.splitlines()[1].startswith("  v1") and out.splitlines()[2].startswith("* v2")
    code, out, _ = cli(cluster, "index", "rollback", "v1", "--json")
    assert (code, json.loads(out)["live"]) == (0, 1)
    code, out, _ = cli(cluster, "index", "versions", "--json")
    assert [v["live"] for v in json.loads(out)["versions"]] == [True, False]

    code, _, err = cli(cluster, "index", "rollback", "9")
    assert code == 1 and err.strip() == "ragbot: error: there is no index version v9 (kept: v1, v2)"


def test_forget_removes_a_document_at_once(cluster: dict[str, str]) -> None:
    code, out, err = cli(cluster, "forget", "--doc", "hr/leave-policy.md", "--json")
    assert code == 0, err
    assert json.loads(out) == {"removed": ["hr/leave-policy.md"], "missing": [], "promoted": []}
    code, out, _ = cli(cluster, "ask", LEAVE, "--json")
    assert "hr/leave-policy.md" not in {p["doc_id"] for p in json.loads(out)["passages"]}
    code, _, err = cli(cluster, "forget", "--doc", "hr/leave-policy.md")
    assert code == 1 and "not in the index: hr/leave-policy.md" in err


def test_forget_user_refuses_the_built_in_user_hash_key(cluster: dict[str, str]) -> None:
    without_key = {k: v for k, v in cluster.items() if k != "RAGBOT_INTERACTIONS__USER_HASH_KEY"}
    code, out, err = cli(without_key, "forget", "--user", "slack:U1", "--json")
    assert code != 0 and out == ""
    assert err.splitlines() == [err.strip()]
    assert err.startswith("ragbot: error: RAGBOT_INTERACTIONS__USER_HASH_KEY") and "openssl rand -hex 32" in err
    code, out, err = cli(cluster, "forget", "--user", "slack:U1", "--json")
    assert code == 0, err
    assert json.loads(out)["users"] == {"slack:U1": 0}


def test_the_embedded_store_has_no_versions_to_roll_back(tmp_path: Path) -> None:
    done = ragbot("index", "rollback", "1", data_dir=tmp_path)
    assert done.returncode == 1
    assert "keeps a single version" in done.stderr
    done = ragbot("index", "versions", "--json", data_dir=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["versions"][0]["documents"] == 0


def test_an_unreachable_cluster_is_one_line_on_stderr(tmp_path: Path) -> None:
    settings = {"RAGBOT_ELASTICSEARCH__URL": "http://127.0.0.1:9", "RAGBOT_ELASTICSEARCH__MAX_RETRIES": "1"}
    done = ragbot("index", "versions", data_dir=tmp_path, settings=settings)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("ragbot: error: cannot reach Elasticsearch")
