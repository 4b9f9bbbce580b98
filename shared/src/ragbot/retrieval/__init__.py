"""Finding passages: hybrid search over an index, fused and de-duplicated."""

from ragbot.retrieval.retriever import Mode, RetrievalResult, Retriever

__all__ = ["Mode", "RetrievalResult", "Retriever"]
