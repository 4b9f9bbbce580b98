"""Structure-aware chunking of light Markdown (what every loader produces).

A document is read as blocks under a heading path: paragraphs, lists, tables and code fences. Blocks of one
section are packed into chunks of about `target_tokens` model tokens. A list or table that fits stays whole; one
that does not is split between items or rows (a table repeats its header row in every piece). Prose that does
not fit is split between sentences, and consecutive chunks of a section share `overlap_tokens` of prose.
Chunks never straddle two sections, so each has one honest heading path.

Token counts are estimated (`approx_tokens`) so chunking needs no model; the estimate runs high for English,
so chunks stay inside the embedding model's 256-token window.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ragbot.language.sentences import split_sentences
from ragbot.models import Chunk, Document

__all__ = ["CHUNKER_VERSION", "Chunker", "approx_tokens"]

CHUNKER_VERSION = "md-blocks-1"
"""Bump when chunk boundaries change: the index records it, and re-ingestion re-chunks every document."""

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")


def approx_tokens(text: str) -> int:
    """Estimate WordPiece tokens: words and punctuation, plus a share for sub-word splits."""
    words = _TOKEN.findall(text)
    long_words = sum(1 for w in words if len(w) > 8)
    return len(words) + long_words


@dataclass(slots=True)
class _Block:
    kind: str  # "prose" | "list" | "table" | "code"
    text: str
    start: int
    end: int
    heading_path: tuple[str, ...]


@dataclass(slots=True)
class _Piece:
    text: str
    start: int
    end: int
    kind: str
    tokens: int = field(default=0)


class Chunker:
    """Cuts a `Document` into `Chunk`s. Pure: the same document always gives the same chunks."""

    def __init__(self, *, target_tokens: int = 256, overlap_tokens: int = 32) -> None:
        if not 0 <= overlap_tokens < target_tokens // 2:
            raise ValueError("overlap_tokens must be at least 0 and less than half of target_tokens")
        self.target = target_tokens
        self.overlap = overlap_tokens

    def chunk(self, document: Document) -> list[Chunk]:
        """Split `document` into chunks, numbered from 0 in reading order."""
        chunks: list[Chunk] = []
        for heading_path, pieces in self._sections(document):
            for text, start, end in self._pack(pieces):
                path = self._display_path(heading_path, document.title)
                chunks.append(
                    Chunk(
                        chunk_id=f"{document.doc_id}#{len(chunks)}",
                        doc_id=document.doc_id,
                        ordinal=len(chunks),
                        title=document.title,
                        url=document.url,
                        source=document.source,
                        text=text,
                        heading_path=path,
                        char_start=start,
                        char_end=end,
                        acl=document.acl,
                        updated_at=document.updated_at,
                        content_hash=hashlib.sha256(" ".join(text.split()).lower().encode()).hexdigest(),
                    )
                )
        return chunks

    @staticmethod
    def _display_path(path: tuple[str, ...], title: str) -> str:
        # The document title is shown next to the path anyway; a leading "# Title" would only repeat it.
        if path and path[0].strip().lower() == title.strip().lower():
            path = path[1:]
        return " › ".join(path)

    def _sections(self, document: Document) -> Iterator[tuple[tuple[str, ...], list[_Piece]]]:
        current: tuple[str, ...] | None = None
        pieces: list[_Piece] = []
        for block in _blocks(document.text):
            if block.heading_path != current:
                if pieces and current is not None:
                    yield current, pieces
                current, pieces = block.heading_path, []
            pieces.extend(self._fit(block))
        if pieces and current is not None:
            yield current, pieces

    def _fit(self, block: _Block) -> list[_Piece]:
        """The block as one piece if it fits, else split at its natural joints."""
        tokens = approx_tokens(block.text)
        if tokens <= self.target:
            return [_Piece(block.text, block.start, block.end, block.kind, tokens)]
        if block.kind == "table":
            return self._split_table(block)
        if block.kind in {"list", "code"}:
            units = _lines_with_offsets(block, group_items=block.kind == "list")
        else:
            units = _sentences_with_offsets(block)
        pieces: list[_Piece] = []
        for text, start, end in units:
            if approx_tokens(text) > self.target:
                pieces.extend(self._hard_split(text, start, block.kind))
            else:
                pieces.append(_Piece(text, start, end, "prose" if block.kind == "prose" else block.kind))
        for piece in pieces:
            piece.tokens = approx_tokens(piece.text)
        return pieces

    def _split_table(self, block: _Block) -> list[_Piece]:
        rows = block.text.split("\n")
        header = rows[:2] if len(rows) > 1 and set(rows[1].replace("|", "").strip()) <= set("-: ") else rows[:1]
        header_text = "\n".join(header)
        budget = self.target - approx_tokens(header_text)
        pieces: list[_Piece] = []
        group: list[str] = []
        offset = block.start + len(header_text) + 1
        group_start = offset
        for row in rows[len(header) :]:
            if group and approx_tokens("\n".join([*group, row])) > budget:
                text = header_text + "\n" + "\n".join(group)
                pieces.append(_Piece(text, group_start, offset - 1, "table", approx_tokens(text)))
                group, group_start = [], offset
            group.append(row)
            offset += len(row) + 1
        if group:
            text = header_text + "\n" + "\n".join(group)
            pieces.append(_Piece(text, group_start, block.end, "table", approx_tokens(text)))
        return pieces

    def _hard_split(self, text: str, start: int, kind: str) -> list[_Piece]:
        """Last resort for a run-on sentence or line: cut between words."""
        pieces = []
        words = list(re.finditer(r"\S+", text))
        step = max(1, int(self.target * 0.6))
        for i in range(0, len(words), step):
            group = words[i : i + step]
            a, b = group[0].start(), group[-1].end()
            pieces.append(_Piece(text[a:b], start + a, start + b, kind))
        return pieces

    def _pack(self, pieces: list[_Piece]) -> Iterator[tuple[str, int, int]]:
        batch: list[_Piece] = []
        tokens = 0
        for piece in pieces:
            if batch and tokens + piece.tokens > self.target:
                yield _join(batch)
                batch = self._overlap_tail(batch)
                tokens = sum(p.tokens for p in batch)
                if tokens + piece.tokens > self.target:
                    batch, tokens = [], 0
            batch.append(piece)
            tokens += piece.tokens
        if batch:
            yield _join(batch)

    def _overlap_tail(self, batch: list[_Piece]) -> list[_Piece]:
        """The last sentences of the previous chunk's prose, up to the overlap budget."""
        last = batch[-1]
        if self.overlap == 0 or last.kind != "prose":
            return []
        tail: list[_Piece] = []
        used = 0
        offset = last.end
        for sentence in reversed(split_sentences(last.text)):
            cost = approx_tokens(sentence)
            if used + cost > self.overlap:
                break
            offset -= len(sentence)
            tail.insert(0, _Piece(sentence, max(last.start, offset), last.end, "overlap", cost))
            used += cost
        return tail


def _join(batch: list[_Piece]) -> tuple[str, int, int]:
    text = "\n\n".join(p.text.strip() for p in batch)
    return text, batch[0].start, batch[-1].end


def _lines_with_offsets(block: _Block, *, group_items: bool) -> list[tuple[str, int, int]]:
    """Lines of a block; for lists, an item keeps its indented continuation lines."""
    units: list[tuple[str, int, int]] = []
    offset = block.start
    for line in block.text.split("\n"):
        end = offset + len(line)
        if group_items and units and not _LIST_ITEM.match(line):
            text, start, _ = units[-1]
            units[-1] = (text + "\n" + line, start, end)
        else:
            units.append((line, offset, end))
        offset = end + 1
    return units


def _sentences_with_offsets(block: _Block) -> list[tuple[str, int, int]]:
    units = []
    cursor = 0
    for sentence in split_sentences(block.text):
        at = block.text.find(sentence, cursor)
        at = cursor if at < 0 else at
        units.append((sentence, block.start + at, block.start + at + len(sentence)))
        cursor = at + len(sentence)
    return units


def _blocks(text: str) -> Iterator[_Block]:
    """Parse light Markdown into blocks, tracking the heading path and character offsets."""
    headings: list[str] = []
    lines = text.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        heading = _HEADING.match(stripped)
        if heading:
            level = len(heading.group(1))
            headings = [*headings[: level - 1], *[""] * max(0, level - 1 - len(headings)), heading.group(2)]
            i += 1
            continue
        j = i + 1
        if _FENCE.match(line):
            while j < len(lines) and not _FENCE.match(lines[j]):
                j += 1
            j = min(j + 1, len(lines))
            kind = "code"
        elif stripped.startswith("|"):
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            kind = "table"
        elif _LIST_ITEM.match(line):
            while j < len(lines) and lines[j].strip() and not _HEADING.match(lines[j].strip()):
                j += 1
            kind = "list"
        else:
            while j < len(lines) and lines[j].strip() and not _starts_block(lines[j]):
                j += 1
            kind = "prose"
        start, end = offsets[i], offsets[j - 1] + len(lines[j - 1])
        body = "\n".join(lines[i:j]).strip("\n")
        if kind == "prose":
            body = body.replace("\n", " ")  # same length, so sentence offsets stay true
        yield _Block(kind, body, start, end, tuple(h for h in headings if h))
        i = j


def _starts_block(line: str) -> bool:
    s = line.strip()
    return bool(_HEADING.match(s) or _FENCE.match(line) or s.startswith("|") or _LIST_ITEM.match(line))
