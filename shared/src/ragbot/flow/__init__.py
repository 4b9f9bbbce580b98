"""The answering flow, one module per hop. Plain functions; every collaborator is passed in.

    Question ─enqueue.submit()─▶ [retrieve] ─retrieve_question()─▶ Retrieval
             ─▶ [generate] ─answer_retrieval()─▶ Outcome ─▶ [reply.<platform>] ─reply.deliver()─▶ the thread
                                       any hop fails for good or expires ─▶ reply.apologize()

In the distributed deployment each bracketed hop runs on its own Celery queue; embedded, the CLI calls
`Retriever.retrieve` and `answer` in turn. `enqueue` and `reply` need the queue extra (Celery, Redis), so they are
imported from their modules, not from here.
"""

from ragbot.flow.generate import answer, answer_retrieval, check_citations
from ragbot.flow.retrieve import retrieve_question

__all__ = ["answer", "answer_retrieval", "check_citations", "retrieve_question"]
