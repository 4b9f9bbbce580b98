"""How a passage is shown as a source, and how a refusal is recognised. Shared by every generator and the flow."""

from __future__ import annotations

import re
from collections.abc import Container, Sequence

from ragbot.models import Citation, Passage
from ragbot.urls import safe_url

__all__ = [
    "MARKER",
    "cite",
    "cited_numbers",
    "closest_sources",
    "is_model_refusal",
    "keep_markers",
    "snippet",
]

MARKER = re.compile(r"\s?\[(\d{1,3})\]")
"""A citation marker `[n]` (with the space before it, which goes with it)."""

# What a model says when its sources do not hold the answer (the prompt's rule 1, `texts.MODEL_REFUSAL`).
_MODEL_REFUSING = re.compile(r"^\W{0,3}(i don'?t know|i do not know)\b", re.I)
CLOSEST_SOURCES = 3
"""How many sources a refusal shows, best first, so the reader can look for themselves."""


def snippet(text: str, *, limit: int = 240) -> str:
    """One line of at most `limit` characters, cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


def cite(passage: Passage, *, quoted: str | None = None) -> Citation:
    """The citation `[rank]` of `passage`, showing `quoted` (the words relied on) or the passage's opening.

    A stored URL that fails the URL policy (an index written before ingest checked it) is left out: every citation
    shown anywhere, the command line's JSON included, carries a safe link or none.
    """
    chunk = passage.chunk
    return Citation(
        n=passage.rank,
        doc_id=chunk.doc_id,
        chunk_id=chunk.chunk_id,
        title=chunk.title,
        url=safe_url(chunk.url),
        heading_path=chunk.heading_path,
        snippet=snippet(quoted if quoted is not None else chunk.text),
    )


def closest_sources(passages: Sequence[Passage]) -> tuple[Citation, ...]:
    """The citations a refusal shows instead of an answer."""
    return tuple(cite(p) for p in passages[:CLOSEST_SOURCES])


def keep_markers(text: str, valid: Container[int]) -> tuple[str, int]:
    """`text` without the markers whose number is not in `valid`, and how many were removed."""
    removed = 0

    def keep(match: re.Match[str]) -> str:
        nonlocal removed
        if int(match.group(1)) in valid:
            return match.group(0)
        removed += 1
        return ""

    return MARKER.sub(keep, text).strip(), removed


def cited_numbers(text: str) -> list[int]:
    """The numbers of the `[n]` markers in `text`, in order, repeats included."""
    return [int(n) for n in MARKER.findall(text)]


def is_model_refusal(text: str) -> bool:
    """The model declined: its answer opens with "I don't know" (how the prompt tells it to refuse)."""
    return bool(_MODEL_REFUSING.match(text.strip()))
