"""Retrieval and answer evaluation (DESIGN §8 `ragbot eval`)."""

from ragbot.evaluation.answers import QAItem, evaluate_answers, load_qa
from ragbot.evaluation.beir import load_corpus, load_qrels, load_queries
from ragbot.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from ragbot.evaluation.retrieval import evaluate_retrieval

__all__ = [
    "QAItem",
    "evaluate_answers",
    "evaluate_retrieval",
    "load_corpus",
    "load_qa",
    "load_qrels",
    "load_queries",
    "mrr_at_k",
    "ndcg_at_k",
    "percentile",
    "recall_at_k",
]
