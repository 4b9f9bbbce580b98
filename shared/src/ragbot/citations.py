"""How a passage is shown as a source, and what a refusal says. Shared by every generator and the flow."""

from __future__ import annotations

from collections.abc import Sequence

from ragbot.models import Citation, Passage

__all__ = ["REFUSAL", "cite", "closest_sources", "snippet"]

REFUSAL = "I couldn't find that in the documents I can see."
CLOSEST_SOURCES = 3
"""How many sources a refusal shows, best first, so the reader can look for themselves."""


def snippet(text: str, *, limit: int = 240) -> str:
    """One line of at most `limit` characters, cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


def cite(passage: Passage, *, quoted: str | None = None) -> Citation:
    """The citation `[rank]` of `passage`, showing `quoted` (the words relied on) or the passage's opening."""
    chunk = passage.chunk
    return Citation(
        n=passage.rank,
        doc_id=chunk.doc_id,
        chunk_id=chunk.chunk_id,
        title=chunk.title,
        url=chunk.url,
        heading_path=chunk.heading_path,
        snippet=snippet(quoted if quoted is not None else chunk.text),
    )


def closest_sources(passages: Sequence[Passage]) -> tuple[Citation, ...]:
    """The citations a refusal shows instead of an answer."""
    return tuple(cite(p) for p in passages[:CLOSEST_SOURCES])
