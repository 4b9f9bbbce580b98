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
        # Card-like runs whatever their check digit, grouping or brackets.
        ("card 4111 1111 1111 1112 expired", "card [card] expired"),
        ("card 4111-1111-1111-1112.", "card [card]."),
        ("card (4111 1111 1111 1112) declined", "card ([card]) declined"),
        # Nine-digit phones, written together or grouped.
        ("call me on 612345678", "call me on [phone]"),
        ("my mobile: 612 345 678", "my mobile: [phone]"),
        # Secrets in phrases, with a space in the name, and user:password pairs.
        ("my password is hunter2", "my password is [token]"),
        ("mein Passwort ist Sommer2024", "mein Passwort ist [token]"),
        ("das Kennwort lautet Geheim123", "das Kennwort lautet [token]"),
        ("API key: 9f8e7d6c5b4a3210", "API key: [token]"),
        ("api key 9f8e7d6c5b4a3210 broke", "api key [token] broke"),
        ("curl -u alice:s3cret", "curl -u [token]"),
        ("use alice:Hunter22 here", "use [token] here"),
        ("https://bob:pw1@git.corp.example/x", "https://[token]@git.corp.example/x"),
        # IBANs, written-out emails and public IPv4 addresses.
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [iban] please"),
        ("ana at example dot com", "[email]"),
        ("ana(at)example(dot)com", "[email]"),
        ("from 81.2.69.160 today", "from [ip] today"),
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
        "order 123456789 and ISBN 978-3-16-148410-0",
        "from 15.01.2024 10:30 to 2024-02-01T09:00:00Z",
        "version 1.2.3.4 on 192.168.1.20",
        "it costs €1.234.567 or EUR 1 250 000",
        "my password is expired and the token is valid",
        "I work at corp.example.com",
    ],
)
def test_ordinary_text_is_kept(text: str) -> None:
    assert redact(text) == text


def test_redaction_is_idempotent_and_leaves_placeholders_alone() -> None:
    text = "password: [token] mail [email], card [card], call [phone], iban [iban], ip [ip]"
    assert redact(text) == text
    once = redact("my password is hunter2; card 4111 1111 1111 1112; ana at example dot com")
    assert redact(once) == once
