"""Logging for the services: one JSON object per line, with correlation ids, and never message text.

Loggers are `logging.getLogger(__name__)` with %-style arguments. Pass correlation ids with
`extra={"question_id": …}`; the formatter lifts the known ones into the JSON object.

Our own log calls carry ids, counts and error kinds, never what a person wrote. The formatters are the second line,
for what other libraries log and for exception texts: every line is redacted (`ragbot.interactions.redact`), the
input values pydantic puts into its validation errors are dropped, and the line is made valid UTF-8.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from ragbot.interactions.redact import redact
from ragbot.models import safe_text

__all__ = ["JsonFormatter", "PlainFormatter", "clean_line", "configure_logging"]

_CORRELATION = ("question_id", "task_id", "event_id", "platform", "hop")
# pydantic: "... [type=string_type, input_value='what was typed', input_type=str]"
_INPUT_VALUE = re.compile(r"input_value=.*?, input_type=", re.DOTALL)


def clean_line(text: str) -> str:
    """`text` fit for a log: valid UTF-8, pydantic's echoed input values dropped, personal data redacted."""
    return redact(_INPUT_VALUE.sub("input_value=…, input_type=", safe_text(text)))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": clean_line(record.getMessage()),
        }
        for key in _CORRELATION:
            value = record.__dict__.get(key)
            if value is not None:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = clean_line(self.formatException(record.exc_info))
        return safe_text(json.dumps(payload, ensure_ascii=False, default=str))


class PlainFormatter(logging.Formatter):
    """`LEVEL logger: message` for a developer's terminal, cleaned like the JSON lines."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return clean_line(super().format(record))


def configure_logging(*, level: int = logging.INFO, json_lines: bool = True) -> None:
    """Route every logger to stderr, as JSON lines (services) or plain text (a developer's terminal)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
