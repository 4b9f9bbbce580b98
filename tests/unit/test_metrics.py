import math
from pathlib import Path

import pytest

from ragbot.errors import InputError
from ragbot.evaluation.beir import load_corpus, load_qrels, load_queries
from ragbot.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k


def test_ndcg_uses_graded_gain_and_the_ideal_from_all_judged_documents() -> None:
    judged = {"d1": 2, "d2": 1, "d3": 1, "d9": 0}
    ranking = ["d2", "x", "d1"]
    dcg = 1 / math.log2(2) + 2 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranking, judged, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["d1", "d2", "d3"], judged, 10) == pytest.approx(1.0)
    assert ndcg_at_k([], judged, 10) == 0.0
    assert ndcg_at_k(["d1"], {"d1": 0}, 10) == 0.0


def test_ndcg_cuts_at_k() -> None:
    assert ndcg_at_k(["x", "d1"], {"d1": 1}, 1) == 0.0


def test_recall_and_mrr() -> None:
    judged = {"a": 1, "b": 1, "c": 0}
    assert recall_at_k(["c", "a", "z"], judged, 10) == 0.5
    assert recall_at_k(["c", "a"], judged, 1) == 0.0
    assert mrr_at_k(["c", "z", "b"], judged, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["c"], judged, 10) == 0.0


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile([], 50) == 0.0
    assert percentile(list(range(101)), 95) == pytest.approx(95.0)


def test_beir_files_are_read_and_malformed_lines_are_named(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "d1", "title": "T", "text": "body"}\n\n{"_id": "d2", "text": "only text"}\n')
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "q1", "text": "what"}\n')
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\n")
    assert load_corpus(corpus) == [("d1", "T", "body"), ("d2", "", "only text")]
    assert load_queries(queries) == {"q1": "what"}
    assert load_qrels(qrels) == {"q1": {"d1": 2, "d2": 1}}

    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1 d2 high\n")
    with pytest.raises(InputError, match=r"qrels.tsv:3: expected 3 tab-separated fields"):
        load_qrels(qrels)
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n")
    with pytest.raises(InputError, match=r"qrels.tsv:2: score 'high' is not an integer"):
        load_qrels(qrels)
    qrels.write_text("q1\td1\t1\n")
    with pytest.raises(InputError, match="expected the header"):
        load_qrels(qrels)
    corpus.write_text('{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n')
    with pytest.raises(InputError, match=r"corpus.jsonl:2: duplicate _id"):
        load_corpus(corpus)
    queries.write_text('{"_id": "q1", "text": "ok"}\nnot json\n')
    with pytest.raises(InputError, match=r"queries.jsonl:2: not valid JSON"):
        load_queries(queries)
