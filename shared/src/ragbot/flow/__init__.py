"""The answering flow, one module per hop. Plain functions; every collaborator is passed in.

    question ──retrieve()──▶ passages ──answer()──▶ Answer ──reply (chat adapters, later)
                 │                        │
        Embedder + DocumentIndex      Generator (extractive now; TGI later)

In the distributed deployment each hop runs on its own Celery queue (retrieve, generate, reply.<platform>);
embedded, the CLI calls them in turn.
"""

from ragbot.flow.answer import answer, check_citations
from ragbot.flow.retrieve import RetrievalResult, Retriever

__all__ = ["RetrievalResult", "Retriever", "answer", "check_citations"]
