"""Redaction of personal data and secrets from message text before anything stores it.

The interaction log keeps questions and answers for evaluation and training (DESIGN §7), so what people type must
not carry their contact details or credentials into it. `redact` replaces, in this order:

    secrets     Slack/GitHub/AWS/Hugging Face/OpenAI-style tokens, bearer tokens, JWTs, `password=…`-style values,
                long random-looking strings                                       → [token]
    emails      name@example.com, Slack's <mailto:…|…> included                   → [email]
    cards       13–19 digit numbers that pass the Luhn check                      → [card]
    phones      7–15 digit numbers written as phone numbers (+, brackets, separators; dates and versions kept)
                                                                                  → [phone]

It errs on the side of redacting: a question loses a little detail rather than keeping a phone number.
"""

from __future__ import annotations

import re

__all__ = ["redact"]

_SECRET_PATTERNS = [
    re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{8,}"),  # Slack bot/user/app tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"),  # Slack app-level tokens
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style keys
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),  # JWTs
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
]
# `password: hunter2`, `api_key=abc…`: keep the name, drop the value.
_ASSIGNED_SECRET = re.compile(
    r"(?i)\b(password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret)"
    r"(\s*[:=]\s*|\s+is\s+)(\"[^\"]*\"|'[^']*'|\S+)"
)
# Long strings mixing letters and digits with no spaces look like keys; ordinary words and ids are shorter.
_RANDOM_LOOKING = re.compile(r"(?<![\w/.-])(?=[A-Za-z0-9+/_=-]*\d)(?=[A-Za-z0-9+/_=-]*[A-Za-z])[A-Za-z0-9+/_=-]{32,}")
_EMAIL = re.compile(r"(?i)(?:mailto:)?[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_DIGIT_RUN = re.compile(r"(?<![\w.+-])\+?\(?\d[\d\s().-]{5,}\d\)?(?![\w-])")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DOTTED = re.compile(r"^\d{1,3}(?:\.\d{1,3}){2,3}$")  # IPv4 addresses and version numbers


def redact(text: str) -> str:
    """Return `text` with secrets, emails, card numbers and phone numbers replaced by placeholders.

    Example:
        >>> redact("mail ana@example.com or call +44 20 7946 0958, token xoxb-123456789-abcdefgh")
        'mail [email] or call [phone], token [token]'
    """
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[token]", text)
    text = _ASSIGNED_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}[token]", text)
    text = _RANDOM_LOOKING.sub("[token]", text)
    text = _EMAIL.sub("[email]", text)
    return _DIGIT_RUN.sub(_number, text)


def _number(match: re.Match[str]) -> str:
    raw = match.group(0)
    candidate = raw.strip()
    digits = re.sub(r"\D", "", candidate)
    if _ISO_DATE.match(candidate) or _DOTTED.match(candidate):
        return raw
    if 13 <= len(digits) <= 19 and _luhn(digits) and not re.search(r"[()+]", candidate):
        return "[card]"
    separated = bool(re.search(r"[\s().-]", candidate)) or candidate.startswith("+")
    if 7 <= len(digits) <= 15 and (separated or len(digits) >= 10):
        # Keep surrounding whitespace the pattern swallowed, so words do not run together.
        lead = raw[: len(raw) - len(raw.lstrip())]
        trail = raw[len(raw.rstrip()) :]
        return f"{lead}[phone]{trail}"
    return raw


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0
