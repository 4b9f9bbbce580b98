"""Redaction keeps personal data and secrets out of the interaction log, and leaves ordinary text alone."""

from __future__ import annotations

import pytest

from ragbot.interactions.redact import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail ana@example.com please", "mail [email] please"),
        ("<mailto:bob@corp.io|bob@corp.io> knows", "<[email]|[email]> knows"),
        ("call +44 20 7946 0958 today", "call [phone] today"),
        ("my number is 555-123-4567.", "my number is [phone]."),
        ("ring (020) 7946-0958", "ring [phone]"),
        ("card 4111 1111 1111 1111 expired", "card [card] expired"),
        ("token xoxb-123456789-abcdefgh leaked", "token [token] leaked"),
        ("key AKIAIOSFODNN7EXAMPLE here", "key [token] here"),
        ("Authorization: Bearer abcdefghijk123", "Authorization: [token]"),
        ("password: hunter2 and more", "password: [token] and more"),
        ("jwt eyJhbGciOi.eyJzdWIiOiIx.SflKxwRJSMeKK end", "jwt [token] end"),
    ],
)
def test_personal_data_and_secrets_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "How many days of leave do I get in 2025?",
        "Since 2024-01-15 the VPN client v2.3.1 on 10.0.0.12 changed",
        "ticket 1234567 is still open",
        "Section 4.2 of the travel policy, page 12",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    assert redact(text) == text
