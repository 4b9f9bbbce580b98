"""A follow-up in a thread, made into a question that can be searched for on its own.

"and for contractors?" retrieves nothing useful; "How many vacation days do I get? and for contractors?" does.
The retrieve hop condenses a question that has thread history before it searches. With a model server the model
rewrites it (`backends.tgi.TgiCondenser`); without one, or when the model fails, `rule_condense` does: a message
that reads as a follow-up (short, opening with "and"/"what about", or leaning on a pronoun) is prefixed with the
asker's previous question; anything else stands on its own already.
"""

from __future__ import annotations

import re
from typing import Protocol

from ragbot.models import Question

__all__ = ["Condenser", "RuleCondenser", "rule_condense"]

_FOLLOW_UP_START = re.compile(r"^\s*(and|but|or|also|so|then|what about|how about|same|ok|okay)\b", re.I)
_LEANING_WORDS = frozenset(
    "it its it's that this those these they them their there he she him her one ones same former latter".split()
)
_WORD = re.compile(r"[\w']+")
_SHORT = 5


class Condenser(Protocol):
    def condense(self, question: Question) -> str:
        """The text to search for: `question.text` made standalone using `question.history`."""
        ...


def rule_condense(question: Question) -> str:
    """`question.text`, prefixed with the asker's previous question when it reads as a follow-up."""
    previous = next((t.text for t in reversed(question.history) if t.role == "user"), "")
    if not previous:
        return question.text
    words = [w.lower() for w in _WORD.findall(question.text)]
    follow_up = (
        len(words) <= _SHORT or bool(_FOLLOW_UP_START.match(question.text)) or any(w in _LEANING_WORDS for w in words)
    )
    return f"{previous.strip()} {question.text}" if follow_up else question.text


class RuleCondenser:
    """`Condenser` without a model."""

    def condense(self, question: Question) -> str:
        return rule_condense(question)
