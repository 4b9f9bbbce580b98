"""Logging for the services: one JSON object per line, with correlation ids, and never message text.

Loggers are `logging.getLogger(__name__)` with %-style arguments. Pass correlation ids with
`extra={"question_id": …}`; the formatter lifts the known ones into the JSON object.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "configure_logging"]

_CORRELATION = ("question_id", "task_id", "event_id", "platform", "hop")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _CORRELATION:
            value = record.__dict__.get(key)
            if value is not None:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(*, level: int = logging.INFO, json_lines: bool = True) -> None:
    """Route every logger to stderr, as JSON lines (services) or plain text (a developer's terminal)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
