"""Whether an answer's own words come from passages `--allow` may read, whatever it cites.

Checking the cited sources' ACLs is not enough: an answer can cite a public passage and still quote a restricted one
it was shown (or a reviewer's correction can quote a document the answer never saw). So each sentence of a target is
compared, by word 3-grams after case folding, with the passages it could have come from: those shown with the
answer, and the ones the keyword leg finds for the sentence among documents `allow` may read and among documents
only other principals may read. A sentence most of whose 3-grams are in a passage only others may read, and fewer
in any passage `allow` may read, is a quote of a restricted document: the example is not made.

The other principals are every principal named in the store's ACLs or the logged askers' principal sets, less
`allow` and "*": searching as them finds exactly the documents `allow` may not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ragbot.generation.citations import MARKER
from ragbot.language.sentences import split_sentences
from ragbot.learning.dataset.sources import readable
from ragbot.models import EVERYONE, Chunk
from ragbot.ports import DocumentIndex

__all__ = ["QUOTE_SHARE", "AnswerSupport", "principals_in"]

QUOTE_SHARE = 0.5
"""The share of a sentence's 3-grams found in one passage that makes the sentence a quote of it."""

_GRAM = 3
_MIN_SHARED = 2  # one shared 3-gram ("it is the") is a coincidence, not a quote
_SEARCH_K = 5
_BATCH = 500
_WORD = re.compile(r"\w+")


class AnswerSupport:
    """Finds the sentences of an answer that quote a passage `allow` may not read and no passage it may."""

    def __init__(self, index: DocumentIndex, *, allow: Sequence[str], others: Iterable[str]) -> None:
        """Args:
        index: The knowledge store, searched with the keyword leg as `allow` and as `others`.
        allow: The principals every example must be readable by (`--allow`).
        others: Principals who may read what `allow` may not (`principals_in`); "*" and `allow` are dropped.
        """
        self._index = index
        self._allow = tuple(allow)
        self._others = tuple(sorted(set(others) - set(allow) - {EVERYONE}))

    def quotes_unreadable(self, text: str, *, readable_chunks: Sequence[Chunk], shown: Sequence[Chunk]) -> bool:
        """Whether a sentence of `text` quotes a passage only others may read, rather than one `allow` may.

        Args:
            text: The answer the example would teach, `[n]` markers and all.
            readable_chunks: The passages of the example `allow` may read (those shown and kept).
            shown: Every passage logged with the answer, readable or not.
        """
        hidden = [c for c in shown if not readable(c, self._allow)]
        for sentence in _sentences(text):
            grams = _grams(sentence)
            if len(grams) < _MIN_SHARED:
                continue
            restricted = [*hidden, *self._found(sentence, self._others, keep_readable=False)]
            quoted = _best_share(grams, restricted)
            if quoted < QUOTE_SHARE:
                continue
            supported = _best_share(grams, [*readable_chunks, *self._found(sentence, self._allow, keep_readable=True)])
            if quoted > supported:
                return True
        return False

    def _found(self, sentence: str, principals: Sequence[str], *, keep_readable: bool) -> list[Chunk]:
        if not principals:
            return []
        ids = self._index.search_keyword(sentence, principals=principals, k=_SEARCH_K).chunk_ids
        found = self._index.chunks(list(ids)) if ids else {}
        return [c for c in found.values() if readable(c, self._allow) == keep_readable]


def principals_in(index: DocumentIndex, *, also: Iterable[str] = ()) -> set[str]:
    """Every principal the store's ACLs name (read from each document's first chunk), and `also`.

    Args:
        index: The knowledge store.
        also: More principals to include (the logged askers').
    """
    named = set(also)
    doc_ids = sorted(index.documents())
    for start in range(0, len(doc_ids), _BATCH):
        chunks = index.chunks([f"{doc_id}#0" for doc_id in doc_ids[start : start + _BATCH]])
        for chunk in chunks.values():
            named.update(chunk.acl)
    return named


def _sentences(text: str) -> list[str]:
    plain = MARKER.sub(" ", text)
    return [s for line in plain.splitlines() for s in split_sentences(line)]


def _grams(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    return {tuple(words[i : i + _GRAM]) for i in range(len(words) - _GRAM + 1)}


def _best_share(grams: set[tuple[str, ...]], chunks: Iterable[Chunk]) -> float:
    best = 0.0
    for chunk in chunks:
        shared = len(grams & _grams(chunk.text))
        if shared >= _MIN_SHARED:
            best = max(best, shared / len(grams))
    return best
