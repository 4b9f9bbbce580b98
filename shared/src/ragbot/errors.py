"""The ragbot exception tree.

Every error raised on purpose by ragbot derives from `RagbotError`. Callers decide what to do by branch:

    RagbotError
    ├── PermanentError            retrying cannot help; tell the user what is wrong
    │   ├── InputError            bad input at an entry point (empty question, malformed file, unknown flag)
    │   │   └── DocumentError     one source document could not be read; ingestion reports it and goes on
    │   ├── ConfigurationError    settings that cannot work together
    │   └── IndexMismatchError    the index was built by another embedding model or chunker
    └── RetryableError            a dependency was busy or slow; the same call may succeed later

Backends translate third-party exceptions into this tree at the boundary, always with `raise ... from err`.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DocumentError",
    "IndexMismatchError",
    "InputError",
    "PermanentError",
    "RagbotError",
    "RetryableError",
]


class RagbotError(Exception):
    """Root of every error ragbot raises on purpose."""


class PermanentError(RagbotError):
    """The operation cannot succeed as asked; retrying will not help."""


class RetryableError(RagbotError):
    """A dependency failed transiently; the operation may be retried with backoff."""


class InputError(PermanentError):
    """Input given to an entry point is invalid. The message is shown to the user as is."""


class DocumentError(InputError):
    """A source document could not be loaded (unreadable, empty, unsupported)."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class ConfigurationError(PermanentError):
    """Settings are missing or contradict each other."""


class IndexMismatchError(PermanentError):
    """The stored index was built with a different embedding model, dimension or chunker."""
