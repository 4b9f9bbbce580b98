"""Reciprocal rank fusion and near-duplicate removal: pure functions shared by every index backend.

RRF (Cormack et al., 2009) scores a chunk `Σ weight_leg / (k + rank_leg)` over the legs that found it. It needs
no score calibration between BM25 and cosine, which is why it fuses two legs that measure different things.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ragbot.models import Chunk, LegHit
from ragbot.ports import LegResult

__all__ = ["FusedHit", "drop_near_duplicates", "reciprocal_rank_fusion", "shingles"]


@dataclass(frozen=True, slots=True)
class FusedHit:
    chunk_id: str
    score: float
    legs: dict[str, LegHit]


def reciprocal_rank_fusion(
    legs: Mapping[str, LegResult], *, weights: Mapping[str, float] | None = None, k: int = 60
) -> list[FusedHit]:
    """Fuse ranked legs into one ranking, best first; ties keep the order in which legs first found them.

    Args:
        legs: Leg name → its result ("bm25", "dense").
        weights: Leg name → weight (default 1.0 each). A leg with weight 0 still reports its hits in `legs`.
        k: The RRF constant; larger values flatten the advantage of top ranks.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    weights = weights or {}
    scores: dict[str, float] = {}
    found: dict[str, dict[str, LegHit]] = {}
    for name, result in legs.items():
        weight = weights.get(name, 1.0)
        for rank, (chunk_id, raw) in enumerate(zip(result.chunk_ids, result.scores, strict=True), start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
            found.setdefault(chunk_id, {})[name] = LegHit(rank=rank, score=raw)
    order = sorted(scores, key=lambda cid: -scores[cid])  # sorted() is stable: first-found wins ties
    return [FusedHit(chunk_id=cid, score=scores[cid], legs=found[cid]) for cid in order]


_SHINGLE_WORD = re.compile(r"\w+")


def shingles(text: str, *, n: int = 3) -> frozenset[str]:
    """Word n-grams of `text`, lowercased: the fingerprint near-duplicate detection compares."""
    words = _SHINGLE_WORD.findall(text.lower())
    if len(words) < n:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def drop_near_duplicates(ranked: Sequence[Chunk], *, threshold: float = 0.9) -> list[Chunk]:
    """Keep the newest version of each document and one chunk of each group of near-identical chunks.

    Versions: two documents with the same title whose chunks share a heading path or near-identical text are
    copies of one page (an archived copy, a re-export); every chunk of the older one is dropped, so a stale fact
    never outranks the current one. Near duplicates: chunks whose content hashes match or whose word 3-gram sets
    have a Jaccard similarity of at least `threshold` (a file checked into two folders); the newest is kept at
    the group's best rank. Comparing text rather than vectors keeps this independent of the index backend.

    Cost is near-linear: an inverted index over 3-grams finds the only chunks worth comparing.
    """
    grams = [shingles(chunk.text) for chunk in ranked]
    same_hash: dict[str, list[int]] = {}
    for i, chunk in enumerate(ranked):
        same_hash.setdefault(chunk.content_hash, []).append(i)
    postings: dict[str, list[int]] = {}
    for i, chunk_grams in enumerate(grams):
        for gram in chunk_grams:
            postings.setdefault(gram, []).append(i)

    def twins(i: int) -> set[int]:
        """Indexes of the chunks near-identical to chunk i."""
        shared: dict[int, int] = {}
        for gram in grams[i]:
            for j in postings[gram]:
                if j != i:
                    shared[j] = shared.get(j, 0) + 1
        found = {j for j, n in shared.items() if n / (len(grams[i]) + len(grams[j]) - n) >= threshold}
        return found | {j for j in same_hash[ranked[i].content_hash] if j != i}

    similar = [twins(i) for i in range(len(ranked))]

    superseded: set[str] = set()
    by_title: dict[str, list[int]] = {}
    for i, chunk in enumerate(ranked):
        if chunk.title.strip():
            by_title.setdefault(chunk.title.strip().casefold(), []).append(i)
    for members in by_title.values():
        for a_pos, i in enumerate(members):
            for j in members[a_pos + 1 :]:
                a, b = ranked[i], ranked[j]
                if a.doc_id == b.doc_id or a.updated_at == b.updated_at:
                    continue
                if a.heading_path == b.heading_path or j in similar[i]:
                    superseded.add(a.doc_id if a.updated_at < b.updated_at else b.doc_id)

    kept: list[int] = []
    slot_of: dict[int, int] = {}
    for i, chunk in enumerate(ranked):
        if chunk.doc_id in superseded:
            continue
        twin = next((slot_of[j] for j in sorted(similar[i]) if j in slot_of), None)
        if twin is None:
            slot_of[i] = len(kept)
            kept.append(i)
        else:
            slot_of[i] = twin
            if chunk.updated_at > ranked[kept[twin]].updated_at:
                kept[twin] = i
    return [ranked[i] for i in kept]
