"""The sources an example shows: the ones shown with the answer, checked, and distractors from other documents.

A logged answer's sources are resolved from the knowledge store by chunk id and checked against the content hash
logged with the answer; a cited source that changed, was removed or is not readable by every `allow` principal (an
adapter answers everyone: what it learns must be public to them) keeps the question out. Distractors are passages
from other documents, the ones the keyword leg finds closest to the question first.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ragbot.generation.citations import cited_numbers
from ragbot.interactions.records import InteractionRecord, RetrievedRef
from ragbot.learning.dataset.targets import Tally, Target
from ragbot.models import Chunk
from ragbot.ports import DocumentIndex

__all__ = ["Mixer", "readable", "shown", "usable_sources"]


def shown(record: InteractionRecord) -> list[RetrievedRef]:
    """The passages the answer was given, in rank order."""
    ranked = sorted(record.retrieved, key=lambda r: r.rank)
    passages_shown = record.usage.get("passages_shown")
    return ranked[:passages_shown] if passages_shown else ranked


def readable(chunk: Chunk, allow: Sequence[str]) -> bool:
    """Whether any of the `allow` principals may read `chunk`."""
    return bool(set(chunk.acl) & set(allow))


def usable_sources(
    target: Target, *, chunks: dict[str, Chunk], allow: Sequence[str], tally: Tally
) -> dict[int, Chunk] | None:
    """The sources shown with `target`'s answer that are unchanged and readable, by the rank they were shown at.

    Args:
        target: The question and the answer it teaches.
        chunks: The store's chunks by id (those asked for that still exist).
        allow: The principals every source must be readable by.
        tally: Where a skipped question's reason is counted.

    Returns:
        The usable sources, or None (and the reason tallied) when a cited source changed, was removed or is not
        readable, or when an answer that is not a refusal cites no source or one it was not shown.
    """
    cited = set(cited_numbers(target.text))
    kept: dict[int, Chunk] = {}
    for ref in shown(target.record):
        chunk = chunks.get(ref.chunk_id)
        changed = chunk is None or bool(ref.content_hash) and chunk.content_hash != ref.content_hash
        unreadable = chunk is not None and not readable(chunk, allow)
        if ref.rank in cited and (changed or unreadable):
            tally.skip(
                "documents not everyone may read (--allow)"
                if unreadable and not changed
                else "a cited source changed or was removed since"
            )
            return None
        if chunk is not None and not changed and not unreadable:
            kept[ref.rank] = chunk
    if target.kind != "refusal" and not cited:
        tally.skip("the answer cites no source")
        return None
    if target.kind != "refusal" and not cited <= set(kept):
        tally.skip("cites a passage it was not shown")
        return None
    return kept


class Mixer:
    """Distractor passages: other documents' chunks, the keyword leg's closest to the question first."""

    def __init__(self, index: DocumentIndex, *, allow: Sequence[str]) -> None:
        self._index = index
        self._allow = tuple(allow)
        self._pool: list[str] | None = None

    def pick(self, question: str, *, avoid_docs: set[str], count: int, rng: random.Random) -> list[Chunk]:
        """Up to `count` readable chunks, one per document, none from `avoid_docs`; random documents fill the rest."""
        if count <= 0:
            return []
        found = self._index.search_keyword(question, principals=self._allow, k=count * 4 + len(avoid_docs) + 5)
        ids = [c for c in found.chunk_ids if c.split("#", 1)[0] not in avoid_docs]
        picked: list[str] = []
        seen_docs = set(avoid_docs)
        for chunk_id in ids:
            doc = chunk_id.split("#", 1)[0]
            if doc not in seen_docs:
                picked.append(chunk_id)
                seen_docs.add(doc)
            if len(picked) == count:
                break
        if len(picked) < count:
            pool = [d for d in self._documents() if d not in seen_docs]
            picked += [f"{doc}#0" for doc in rng.sample(pool, min(len(pool), count - len(picked)))]
        resolved = self._index.chunks(picked)
        return [resolved[c] for c in picked if c in resolved and readable(resolved[c], self._allow)]

    def _documents(self) -> list[str]:
        if self._pool is None:
            self._pool = sorted(d for d, stored in self._index.documents().items() if not stored.duplicate_of)
        return self._pool
