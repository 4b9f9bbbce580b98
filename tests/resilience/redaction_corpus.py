"""The redaction corpus: personal data and secrets that must go, and ordinary text that must stay.

`MUST_GO` pairs each text with the placeholder it must get and the fragments that must not survive; `MUST_STAY`
is text a staff question (or a handbook page) ordinarily holds: numbers, dates, times, versions, ids, prices,
addresses of company machines, and sentences about passwords that name none. tests/resilience/test_redaction.py
asserts both and measures the rates docs/CHAT.md states.
"""

from __future__ import annotations

from typing import NamedTuple


class Secret(NamedTuple):
    text: str
    placeholder: str
    gone: tuple[str, ...]


MUST_GO: tuple[Secret, ...] = (
    # Cards: any 13–19 digits, Luhn or not, with single spaces or dashes, in brackets or not.
    Secret("card 4111 1111 1111 1112 expired", "[card]", ("4111", "1112")),
    Secret("my card is 4111111111111112", "[card]", ("4111111111111112",)),
    Secret("charge 4111-1111-1111-1112 again", "[card]", ("4111-1111", "1112")),
    Secret("the card (4111 1111 1111 1112) was declined", "([card])", ("4111", "1112")),
    Secret("(4111-1111-1111-1111) is mine", "([card])", ("4111",)),
    Secret("amex 3782 822463 10005 please", "[card]", ("3782", "822463", "10005")),
    Secret("card 5500 0000 0000 0004, exp 12/27", "[card]", ("5500", "0004")),
    Secret("card 6011000990139424!", "[card]", ("6011000990139424",)),
    Secret("number 4111 1111 1111 1111 12/26", "[card]", ("4111", " 1111 ")),
    Secret("pay with 4929 1234 5678 9012 345", "[card]", ("4929", "9012", " 345")),
    # Phones, including 9-digit ones.
    Secret("call me on 612345678", "[phone]", ("612345678",)),
    Secret("my mobile: 612 345 678", "[phone]", ("612 345 678", "345")),
    Secret("reach me at 0612345678 after six", "[phone]", ("0612345678",)),
    Secret("ring +34 612 345 678", "[phone]", ("612", "678")),
    Secret("Tel:+49 30 1234567", "[phone]", ("1234567",)),
    Secret("Handy 0171/1234567", "[phone]", ("1234567",)),
    Secret("phone 5551234 today", "[phone]", ("5551234",)),
    Secret("call +44 20 7946 0958: thanks", "[phone]", ("7946", "0958")),
    Secret("fax (030) 1234-5678", "[phone]", ("1234", "5678")),
    Secret("appelle 01.23.45.67.89", "[phone]", ("45.67",)),
    Secret("US office 555-123-4567.", "[phone]", ("555-123", "4567")),
    Secret("call 0049 30 12345678", "[phone]", ("12345678",)),
    # Credentials in phrases, in English and German, with a space in the name, and as user:password pairs.
    Secret("my password is hunter2", "[token]", ("hunter2",)),
    Secret("my password is sunshine", "[token]", ("sunshine",)),
    Secret("the new password is now Winter2025!", "[token]", ("Winter2025",)),
    Secret("the password is Pa55word! ok", "[token]", ("Pa55word", "[token]!")),
    Secret("password for the VPN is Tr0ub4dor", "[token]", ("Tr0ub4dor",)),
    Secret("mein Passwort ist Sommer2024!", "[token]", ("Sommer2024",)),
    Secret("das Kennwort lautet: Geheim123", "[token]", ("Geheim123",)),
    Secret("Passwort: abc!def", "[token]", ("abc!def",)),
    Secret("API key: 9f8e7d6c5b4a", "[token]", ("9f8e7d6c5b4a",)),
    Secret("my API key is 9f8e7d6c5b4a3210", "[token]", ("9f8e7d6c5b4a3210",)),
    Secret("api key 9f8e7d6c5b4a3210 stopped working", "[token]", ("9f8e7d6c5b4a3210",)),
    Secret("access key = AbCdEf123456", "[token]", ("AbCdEf123456",)),
    Secret("client secret 'q~8Q_zz.P2'", "[token]", ("q~8Q_zz",)),
    Secret("PIN: 4821", "[token]", ("4821",)),
    Secret("password 123456 does not work", "[token]", ("123456",)),
    Secret("curl -u alice:s3cret https://api.corp.example", "[token]", ("s3cret",)),
    Secret("log in with bob:Passw0rd! please", "[token]", ("Passw0rd",)),
    Secret("basic auth admin:admin fails", "[token]", ("admin:admin",)),
    Secret("creds are svc-deploy:K8s-Pa55", "[token]", ("K8s-Pa55",)),
    Secret("use alice:Hunter22 for the wiki", "[token]", ("Hunter22",)),
    Secret("root:toor works on the lab box", "[token]", ("toor",)),
    Secret("clone https://bob:gh-pass1@git.corp.example/repo.git", "[token]", ("gh-pass1", "bob:")),
    Secret("token xoxb-123456789-abcdefgh leaked", "[token]", ("xoxb",)),
    Secret("Authorization: Bearer abcdefghijk123", "[token]", ("abcdefghijk123",)),
    # IBANs, spaced or not.
    Secret("my IBAN is DE89 3704 0044 0532 0130 00", "[iban]", ("3704", "0130")),
    Secret("pay GB29NWBK60161331926819 today", "[iban]", ("NWBK", "60161331926819")),
    Secret("iban: fr14 2004 1010 0505 0001 3m02 606", "[iban]", ("2004", "3m02")),
    Secret("NL91ABNA0417164300.", "[iban]", ("0417164300",)),
    # Emails, plain and written out.
    Secret("mail ana@example.com please", "[email]", ("ana@",)),
    Secret("write to ana at example dot com", "[email]", ("ana at", "example dot")),
    Secret("ana(at)example(dot)com", "[email]", ("ana(at)",)),
    Secret("ana [at] example [dot] com", "[email]", ("ana [at]",)),
    Secret("ana [at] example.com", "[email]", ("ana [at]",)),
    Secret("ana @ example.com", "[email]", ("ana @",)),
    Secret("ana at mail.example dot co dot uk", "[email]", ("ana at",)),
    Secret("schreib an ana at beispiel punkt de", "[email]", ("ana at", "beispiel")),
    # Public IPv4 addresses.
    Secret("my home IP is 81.2.69.160", "[ip]", ("81.2.69.160",)),
    Secret("blocked from 203.0.114.7:8443", "[ip]", ("203.0.114.7",)),
)

MUST_STAY: tuple[str, ...] = (
    # Ordinary numbers, counts and amounts.
    "How many days of leave do I get in 2025?",
    "We have 1200 employees in 14 offices",
    "The limit is 50000 per year",
    "about 1 000 000 users",
    "Is the budget €1.234.567 or $1,234,567.00?",
    "EUR 1 250 000 for the new office",
    "It costs 12 500 EUR",
    "the laptop costs 1299.99",
    "a price of 12 345 678 EUR",
    "99.95% uptime",
    "pi is 3.14159265",
    "Section 4.2 of the travel policy, page 12",
    "pages 12 13 14 15 and 16",
    "sizes 36 38 40 42",
    "1, 2, 3, 4, 5, 6, 7, 8",
    # Dates, times and timestamps.
    "Since 2024-01-15 the VPN client v2.3.1 on 10.0.0.12 changed",
    "from 15.01.2024 to 20.01.2024",
    "due 01/15/2024 or 15/01/2024",
    "booked 2024/01/15",
    "between 2024-01-15 2024-02-15",
    "the meeting is at 10:30-11:45",
    "starts 14.30 Uhr",
    "logged at 2024-01-15T10:30:00Z",
    "logged at 2024-01-15T10:30:00.123+01:00",
    "logged at 2024-01-15 10:30:00",
    "in 2019-2024 we grew",
    "years 2023 2024 2025",
    "Q3 2024 results",
    "epoch 1718035200",
    "timestamp 1718035200123",
    # Versions, builds and machine addresses.
    "upgrade to version 1.2.3.4",
    "Windows 10.0.19045.3803 is required",
    "Python 3.12.1 and node v20.11.0",
    "python:3.12-slim and node:lts-alpine images",
    "the printer at 192.168.1.20 and the proxy at 10.20.30.40:3128",
    "localhost:8080 and 127.0.0.1",
    "link-local 169.254.10.20",
    # Order ids, tickets and other named numbers.
    "ticket 1234567 is still open",
    "order 123456789 has not arrived",
    "order number: 987654321",
    "invoice no. 2024001234",
    "see ticket #123456789",
    "case 555-1234",
    "ISBN 978-3-16-148410-0",
    "ORD-2024-001234 and INV-2024-000017",
    "PO 4500012345 was approved",
    "employee id 12345678",
    "the office is at Avenida da Liberdade 214, 1250-147 Lisbon",
    "room 3.14 on floor 2",
    "sha256:9f86d081884c7d659a2feaa0c55ad015",
    # Sentences about passwords and keys that name none.
    "my password is expired",
    "my password is not working",
    "my password is expired. What now?",
    "the token is valid",
    "the token was revoked",
    "Your Okta password is therefore the most important password you have.",
    "how do I reset my password?",
    "the API key rotation policy",
    "password reset link",
    "password 2 times wrong",
    "how long is a token valid",
    "the user:EMAIL principal",
    "Re: Update",
    "ratio 16:9 and 4:3",
    "I work at corp.example.com now",
    "documentation is available at docs.example.com",
    "meet at the lobby",
)
