"""Sentences of prose: the chunker cuts at them, the extractive answerer picks them, the prompt trims by them."""

from __future__ import annotations

import re

__all__ = ["split_sentences"]

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split prose at sentence ends. Abbreviations may cost a split; that only moves a chunk boundary."""
    return [s for s in _SENTENCE_END.split(text) if s.strip()]
