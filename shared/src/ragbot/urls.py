"""The one URL policy: which links a document may carry, checked at ingest and again whenever a link is shown.

A document's URL ends up inside chat markup (Slack's `<url|title>`, a Markdown `[title](url)`, a Teams citation) and
in the command line's output, so it is held to what a link to a web page needs and nothing a renderer could read
as markup:

- the scheme is `http` or `https` (any case). `javascript:`, `data:`, `file:` and the rest are refused, and so is
  `mailto:`: a citation points at a document a reader opens, which an e-mail address is not, and a `mailto:` link
  with a prefilled recipient and body is a phishing tool rather than a source;
- a host is present and made of host characters (letters, digits, `-`, `.`, `_`, or an IPv6 literal); a user name
  or password (`https://wiki.example@evil.example/`) is refused, because it makes a link read as another host;
- no whitespace, control or invisible formatting character (zero-width, bidirectional overrides) anywhere, and none
  of `< > " \\ ^ ` { } |`, which are not legal in a URL and are what Slack and Markdown links break on;
- at most `MAX_URL_CHARS` characters.

Ingest refuses a document whose URL fails (`url_problem` gives the one-line reason); renderers show a stored URL
only if it still passes (`safe_url`), so an index written before the policy cannot put a bad link in front of
anyone. A leaf module: the core, ingest and every chat service import it, and it imports nothing of ragbot.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

__all__ = ["ALLOWED_SCHEMES", "MAX_URL_CHARS", "safe_url", "shown", "url_problem"]

MAX_URL_CHARS = 2048
"""The longest URL accepted: what browsers and Teams citations reliably carry."""

ALLOWED_SCHEMES = frozenset({"http", "https"})

_MARKUP = frozenset('<>"\\^`{}|')
# Control (Cc), format (Cf: zero-width, bidi overrides), surrogate, private-use, unassigned and separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_HOST = re.compile(r"[\w.-]+")
_IPV6 = re.compile(r"[0-9a-f:.]+")


def url_problem(url: str) -> str | None:
    """Why `url` may not be a document's link, in one line; None when it may.

    Args:
        url: The URL exactly as given (not stripped: surrounding whitespace is a problem too).
    """
    if not url:
        return "the URL is empty"
    if len(url) > MAX_URL_CHARS:
        return f"the URL is longer than {MAX_URL_CHARS} characters"
    for char in url:
        if char.isspace() or unicodedata.category(char) in _INVISIBLE:
            return "the URL contains whitespace or an invisible or control character"
        if char in _MARKUP:
            return f"the URL contains {char!r}, which chat markup reads as its own"
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket
        return "the URL has no valid host"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return "only http and https links are allowed"
    if "@" in parts.netloc:
        return "a user name or password in a link is not allowed (it disguises the host)"
    host = parts.hostname or ""
    if not host or not (_IPV6.fullmatch(host) if ":" in host else _HOST.fullmatch(host)):
        return "the URL has no valid host"
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return "the URL has an invalid port"
    return None


def safe_url(url: str) -> str:
    """`url` if it passes the policy, else "": what a renderer may put in a link."""
    return url if url and url_problem(url) is None else ""


def shown(url: str, *, limit: int = 80) -> str:
    """`url` quoted for a one-line message: control characters escaped (`ascii`), clipped to about `limit`."""
    text = ascii(url)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-1]
