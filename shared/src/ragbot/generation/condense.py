"""A follow-up in a thread, made into a question that can be searched for on its own.

"and for contractors?" retrieves nothing useful; "How many vacation days do I get? and for contractors?" does.
The retrieve hop condenses a question that has thread history before it searches. With a model server the model
rewrites it (`ModelCondenser`); without one, or when the model fails, `rule_condense` does: a message
that reads as a follow-up (short, opening with "and"/"what about", or leaning on a pronoun) is prefixed with the
asker's previous question; anything else stands on its own already.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

from ragbot.models import Question
from ragbot.observability import metrics
from ragbot.ports import TextGenerator

__all__ = ["Condenser", "ModelCondenser", "RuleCondenser", "rule_condense"]

log = logging.getLogger(__name__)

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


_CONDENSE_RULES = (
    "Rewrite the user's last message as one standalone question that can be understood without the conversation. "
    "Keep every name, number and term from the conversation that it depends on. Do not answer it. Output only the "
    "question."
)


class ModelCondenser:
    """`Condenser` that asks the model; the rule-based rewrite when the model fails, is slow or says too much.

    Args:
        model: The model server (its base model rewrites; adapters are for answering).
        timeout_s: One attempt, no retries: retrieval waits on it.
    """

    def __init__(self, model: TextGenerator, *, timeout_s: float = 5.0) -> None:
        self._model = model
        self._timeout_s = timeout_s

    def condense(self, question: Question) -> str:
        if not question.history:
            return question.text
        fallback = rule_condense(question)
        messages = [{"role": "system", "content": _CONDENSE_RULES}]
        messages += [{"role": t.role, "content": t.text} for t in question.history[-6:]]
        messages.append({"role": "user", "content": question.text})
        try:
            completion = self._model.complete(
                messages,
                adapter=None,
                max_tokens=96,
                temperature=0.0,
                timeout_s=self._timeout_s,
                deadline_s=self._timeout_s,
            )
            text = " ".join(completion.text.split())
        except Exception as err:  # its text may quote the thread (a server's error echoing the request): not logged
            log.info("condensing by rule: the model failed (%s)", type(err).__name__)
            metrics.CONDENSED.labels(by="rule").inc()
            return fallback
        if not text or len(text) > 2 * len(fallback) + 40:  # empty, or an answer rather than a question
            metrics.CONDENSED.labels(by="rule").inc()
            return fallback
        metrics.CONDENSED.labels(by="model").inc()
        return text
