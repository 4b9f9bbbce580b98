"""Redaction of personal data and secrets from message text before anything stores or shows it.

The interaction log keeps questions and answers for evaluation and training (DESIGN §7), so what people type must
not carry their contact details, bank details or credentials into it. `redact` replaces, in this order:

    secrets     Slack/GitHub/AWS/Hugging Face/OpenAI-style tokens, bearer tokens, JWTs, private keys; credentials
                in URLs (`https://user:pw@host`) and `user:password` pairs; the value after a secret's name
                (`password: …`, `API key …`, `my password is …`, `mein Passwort ist …`, `Kennwort lautet …`);
                long random-looking strings                                                          → [token]
    IBANs       a country code, two check digits and 11–30 letters or digits, in groups of four or not → [iban]
    emails      name@example.com, Slack's <mailto:…|…>, and written out: `ana at example dot com`,
                `ana(at)example(dot)com`, `ana [at] example.com`                                      → [email]
    public IPs  IPv4 addresses on the public internet (a home connection identifies a person); private,
                loopback and link-local addresses name company machines and are kept                → [ip]
    cards       any 13–19 digit run, with or without single spaces or dashes, in brackets or not, whether or
                not it passes the Luhn check (a mistyped card number is still a card number)        → [card]
    phones      7–15 digit numbers written as phone numbers: with + or 00, brackets or separators, 9 or more
                digits in one run, or fewer after a word such as "call" or "phone"                   → [phone]

Kept: dates (2024-01-15, 15.01.2024, 01/15/2024), times, ISO timestamps, version and section numbers, prices and
thousands (€1.234.567, EUR 1 250 000), years and year ranges, postcodes, and numbers named as an order, ticket,
invoice, case or ISBN (`order 123456789`) unless they are card-like. `tests/resilience/test_redaction.py` holds the
corpus of examples that must go and that must stay, and measures both rates (docs/CHAT.md states them).

It errs on the side of redacting: a question loses a little detail rather than keeping a phone number. Placeholders
are never redacted again, so `redact(redact(text)) == redact(text)`.
"""

from __future__ import annotations

import ipaddress
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

# https://alice:s3cret@host/ → https://[token]@host/
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,15}://)[^\s/@:]+:[^\s/@]+@")
# `curl -u alice:s3cret`, `basic auth admin:password`: after such words any user:password pair goes.
_NAMED_CREDENTIALS = re.compile(
    r"(?i)((?:(?<![\w-])-u|--user|basic[ -]auth(?:entication)?|credentials?|creds|log(?:ge)?[ -]?in(?:\s+(?:with|as))?"
    r"|zugangsdaten|anmeldedaten)\s*[:=]?\s+)"
    r"(?![\d:]+(?:\s|$))([^\s:]{1,64}:\S+)"
)
# A user:password pair anywhere: the password part has a letter and a digit or symbol and does not start like a
# version (python:3.12, node:v20); after a well-known account name any password counts.
_PAIR = re.compile(
    r"(?<![\w/@.:%+\[-])"
    r"(?:(?i:admin|administrator|root|test|guest|sa|postgres|oracle|svc[\w-]*|service):[^\s:/\"'`]{3,}"
    r"|[A-Za-z][\w.+-]{1,63}:(?![vV]?\d)(?=[^\s:/]*[A-Za-z])(?=[^\s:/]*[\d!#$%&*?@^~])[^\s:/]{4,})"
    r"(?=$|[\s,;)\]}'\"])"
)
# The value after a secret's name. `password: x` and `API key = x` always; `password is x` unless x is an ordinary
# word ("my password is expired"); `password x` only when x looks like a credential (a digit or a symbol in it).
_KEY_WORDS = (
    r"(?<![\[\w])(?:pass(?:word|wort|wd|phrase|code)|kennwort|pwd|pw|pin"
    r"|(?:(?:access|auth|api|bot|refresh|session|bearer)[ _-]?)?token"
    r"|api[ _-]?key|apikey|(?:access|secret|private|client|app|shared|signing)[ _-]?(?:key|secret)"
    r"|api[ _-]?schl(?:ü|ue)ssel)"
)
_QUALIFIER = (  # "password for the VPN is …"
    r"(?:\s+(?:for|of|on|to|für|von|vom|zum|zur|bei)\s+(?:(?:the|my|our|der|die|das|dem|den|mein\w*)\s+)?[\w.-]+)?"
)
_ASSIGNED_SECRET = re.compile(
    rf"(?i)({_KEY_WORDS}{_QUALIFIER})(\s*[:=]\s*|\s+(?:is|was|are|ist|war|lautet|lauten|=)(?:\s*:)?\s+"
    r"(?:(?:now|currently|still|jetzt|nun|set\s+to|changed\s+to)\s+)?)"
    r"(\"[^\"]*\"|'[^']*'|`[^`]*`|\S+)"
)
# A secret runs to the next space: punctuation at its end may belong to it ("Pa55word!"), so it goes too.
_LOOSE_SECRET = re.compile(rf"(?i)({_KEY_WORDS})(\s+)(\S+)")
_CREDENTIAL_LIKE = re.compile(r"[\d!#$%&*?@^~]")
_SMALL_NUMBER = re.compile(r"\d{1,4}(?:[.,:/-]\d{1,4})*")  # "password 2 times", "token 2024": counts, years, dates
_TRAILING = ".,;:!?)"
# Words that follow "is" in ordinary sentences about passwords and tokens; anything else after "is" is taken to be
# the secret itself ("my password is sunshine").
_NOT_A_SECRET = frozenset(
    """a an the my your our his her their this that it its not no never too very so also still always only just now
    valid invalid wrong right correct incorrect required needed necessary mandatory optional missing empty blank new
    old same different weak strong short long secure insecure safe unsafe good bad fine ok okay shared personal
    stored saved sent therefore however important useless stale active inactive disabled enabled unknown case
    sensitive there here what how where why when which who about going being set due used
    nicht kein keine falsch richtig korrekt ungültig gültig abgelaufen gesperrt zu noch schon immer neu alt leer
    sicher unsicher der die das ein eine mein dein sein ihr unser nur jetzt also""".split()
)
_NOT_A_SECRET_SUFFIXES = ("ed", "ing", "ly", "able", "ible")
# Long strings mixing letters and digits with no spaces look like keys; ordinary words and ids are shorter, and a
# UUID is an id.
_RANDOM_LOOKING = re.compile(r"(?<![\w/.-])(?=[A-Za-z0-9+/_=-]*\d)(?=[A-Za-z0-9+/_=-]*[A-Za-z])[A-Za-z0-9+/_=-]{32,}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# ... except a digest its label names: `sha256:9f86d0…`, `commit 3f2a…` (hex, and no secret).
_DIGEST_BEFORE = re.compile(r"(?i)\b(?:sha-?(?:1|224|256|384|512)|md5|commit|digest|checksum|hash)\s*[:=]?\s*$")

_IBAN_COUNTRIES = (
    "AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI GL GR GT HR HU IE IL"
    " IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI NL NO OM PK PL PS PT QA RO RS RU SA SC SD SE"
    " SI SK SM SO ST SV TL TN TR UA VA VG XK YE"
).split()
_IBAN = re.compile(
    rf"(?i)(?<![\w-])(?:{'|'.join(_IBAN_COUNTRIES)})\d{{2}}"
    r"(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?(?![\w-])"
)

_EMAIL = re.compile(r"(?i)(?:mailto:)?[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
# Written-out addresses: ana(at)example(dot)com, ana [at] example.com, ana @ example.com, ana at example dot com.
# A spelled " at " also needs a spelled "dot": "available at docs.example.com" is a sentence, not an address.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SPELLED_DOT = r"(?:\s*[\[({<]\s*(?:dot|punkt|\.)\s*[\])}>]\s*|\s+(?:dot|punkt)\s+)"
_OBFUSCATED_EMAIL = re.compile(
    rf"(?i)(?<![\w.%+'-])[a-z0-9._%+'-]+(?P<at>\s*[\[({{<]\s*(?:at|@)\s*[\])}}>]\s*|\s*@\s*|\s+at\s+)"
    rf"{_LABEL}(?:(?:{_SPELLED_DOT}|\.){_LABEL})*(?:{_SPELLED_DOT}|\.)[a-z]{{2,}}\b"
)
_SPELLED = re.compile(r"(?i)\s(?:dot|punkt)\s|[\[({<]\s*(?:dot|punkt|\.)\s*[\])}>]")

_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)")
_VERSION_BEFORE = re.compile(r"(?i)\b(?:version|release|build|ver\.?|v)\s*[:#]?\s*$")

# A run of digits a phone, card or date could be: digits with single separators (space, dot, dash) or brackets
# between them, optionally after a + or in brackets, or a German area code and a slash (030/1234567). Not glued to
# a word, a decimal point, a time or a path.
_SPACE = " \u00a0\u202f"
_SEP = rf"(?:[{_SPACE}.\-]|\)[{_SPACE}\-.]?|[{_SPACE}\-.]?\()"
_NUMBER = re.compile(
    rf"(?<![\w.+/,#-])(?<!\d:)(?:0\d{{1,5}}/\d(?:{_SEP}?\d)*|(?:\+|\()?\d(?:{_SEP}?\d)*\)?)(?![\w/-]|[.,:]\d)"
)
_DATE = re.compile(r"^(?:\d{4}([-.])\d{1,2}\1\d{1,2}|\d{1,2}([-.])\d{1,2}\2(?:\d{4}|\d{2}))$")  # 2024-01-15, 15.01.24
_YEARS = re.compile(rf"^(?:19|20)\d\d(?:[{_SPACE}-]+(?:19|20)\d\d)*$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:([.\u00a0\u202f'])\d{3})(?:\1\d{3})*$|^\d{1,3}(?: 000)+$")
_MONEY_BEFORE = re.compile(r"(?i)(?:[$€£¥₹]|\b(?:eur|usd|gbp|chf|jpy|sek|nok|dkk|pln|czk|inr|aud|cad))\s?$")
_MONEY_AFTER = re.compile(r"(?i)^\s?(?:[$€£¥₹%]|(?:eur|euros?|usd|dollars?|gbp|pounds?|chf|k|m|bn)\b)")
_ID_BEFORE = re.compile(
    r"(?i)\b(?:order|ticket|invoice|case|incident|request|req|po|ref|reference|build|job|issue|bug|pr|sku|item"
    r"|article|artikel|bestellung|rechnung|auftrag|vorgang|serial|s/n|sn|isbn(?:-1[03])?|ean(?:-13)?|gtin|upc"
    r"|timestamp|epoch|unix|version|release|id)\b\s*(?:(?:number|nummer|no\.?|nr\.?|#|id)\s*)?[:#]?\s*$"
)
_NOT_A_CARD_BEFORE = re.compile(r"(?i)\b(?:isbn(?:-1[03])?|ean(?:-13)?|gtin|upc|timestamp|epoch|unix)\s*[:#]?\s*$")
_PHONE_BEFORE = re.compile(
    r"(?i)(?:\b(?:phone|telephone|tel|mobile|cell|cellphone|call|ring|dial|fax|whatsapp|signal|sms|text\s+me"
    r"|handy|telefon|telefonnummer|rufnummer|mobil|mobilnummer|anrufen|ruf|durchwahl|extension|ext)\b"
    r"|\b(?:my|his|her|their|your|our|meine?|seine?|ihre?)\s+(?:number|nummer))[^.!?\n\d]{0,24}$"
)
_PLACEHOLDER = re.compile(r"\[(?:token|iban|email|ip|card|phone)\]")


def redact(text: str) -> str:
    """Return `text` with secrets and personal data replaced by placeholders ([token], [iban], [email], …).

    Example:
        >>> redact("mail ana@example.com or call +44 20 7946 0958, token xoxb-123456789-abcdefgh")
        'mail [email] or call [phone], token [token]'
    """
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[token]", text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}[token]@", text)
    text = _EMAIL.sub("[email]", text)
    text = _OBFUSCATED_EMAIL.sub(_obfuscated_email, text)
    text = _NAMED_CREDENTIALS.sub(lambda m: f"{m.group(1)}[token]", text)
    text = _PAIR.sub("[token]", text)
    text = _ASSIGNED_SECRET.sub(_assigned, text)
    text = _LOOSE_SECRET.sub(_loose, text)
    text = _RANDOM_LOOKING.sub(_random_looking, text)
    text = _IBAN.sub(_iban, text)
    text = _IPV4.sub(_ip, text)
    return _NUMBER.sub(_number, text)


def _obfuscated_email(match: re.Match[str]) -> str:
    raw = match.group(0)
    if match.group("at").strip().lower() == "at" and not _SPELLED.search(raw):
        return raw
    return "[email]"


def _random_looking(match: re.Match[str]) -> str:
    raw = match.group(0)
    if _UUID.fullmatch(raw):  # an id (a task, a question, a request), not a key
        return raw
    before = match.string[max(0, match.start() - 20) : match.start()]
    if re.fullmatch(r"[0-9a-f]+|[0-9A-F]+", raw) and _DIGEST_BEFORE.search(before):
        return raw
    return "[token]"


def _assigned(match: re.Match[str]) -> str:
    name, joint, value = match.group(1), match.group(2), match.group(3)
    core = value.rstrip(_TRAILING)
    if _PLACEHOLDER.fullmatch(core):
        return match.group(0)
    if joint.strip() not in (":", "=") and value[:1] not in "\"'`" and _ordinary_word(core):
        return match.group(0)
    return f"{name}{joint}[token]"


def _loose(match: re.Match[str]) -> str:
    """`password x`: x goes only when it looks like a credential (4+ characters, a digit or a symbol)."""
    value = match.group(3)
    core = value.rstrip(_TRAILING)
    if _PLACEHOLDER.search(value) or len(core) < 4 or not _CREDENTIAL_LIKE.search(core):
        return match.group(0)
    if _SMALL_NUMBER.fullmatch(core):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}[token]"


def _ordinary_word(value: str) -> bool:
    word = value.lower()
    return word in _NOT_A_SECRET or (word.isalpha() and word.endswith(_NOT_A_SECRET_SUFFIXES))


def _iban(match: re.Match[str]) -> str:
    raw = match.group(0)
    return "[iban]" if sum(c.isdigit() for c in raw) >= 8 else raw


def _ip(match: re.Match[str]) -> str:
    raw = match.group(0)
    try:
        address = ipaddress.IPv4Address(raw)
    except ValueError:
        return raw
    before = match.string[max(0, match.start() - 20) : match.start()]
    return "[ip]" if address.is_global and not _VERSION_BEFORE.search(before) else raw


def _number(match: re.Match[str]) -> str:
    raw, start = match.group(0), match.start()
    lead = trail = ""
    core = raw
    if core.startswith("(") and core.count("(") > core.count(")"):  # "(call 555-1234)": the sentence's bracket
        lead, core = "(", core[1:]
    if core.endswith(")") and core.count(")") > core.count("("):
        trail, core = ")", core[:-1]
    wrapped = core.startswith("(") and core.endswith(")") and core.count("(") == 1
    if wrapped:  # "(4111 1111 1111 1111)": classify what is inside, keep the brackets
        lead, trail, core = lead + "(", ")" + trail, core[1:-1]
    before = match.string[max(0, start - 40) : start] + lead
    kind = _kind(core, before, match.string[match.end() : match.end() + 12])
    return f"{lead}[{kind}]{trail}" if kind else raw


def _kind(candidate: str, before: str, after: str) -> str:
    digits = sum(c.isdigit() for c in candidate)
    international = candidate.startswith(("+", "00"))
    separators = set(re.sub(r"[\d()+]", "", candidate))
    if _DATE.match(candidate) or _YEARS.match(candidate) or _dates(candidate):
        return ""
    if separators == {"."} and not international:
        return "phone" if _dotted_phone(candidate) else ""  # otherwise a version, a section or an address
    if _THOUSANDS.match(candidate) or ((_MONEY_BEFORE.search(before) or _MONEY_AFTER.match(after)) and digits < 13):
        return ""
    if international:  # + or 00, then up to 15 digits (E.164); anything longer is still no ordinary number
        return "phone" if 7 <= digits <= 19 else ""
    if 13 <= digits <= 19:
        return "" if _NOT_A_CARD_BEFORE.search(before) else "card"
    if not 7 <= digits <= 15:
        return ""
    if "/" in separators:
        return "phone"
    if _ID_BEFORE.search(before):
        return ""
    if separators - {"("} - {")"} or "(" in candidate:
        return "phone" if _looks_dialled(candidate) else ""
    return "phone" if digits >= 9 or _PHONE_BEFORE.search(before) else ""


def _dates(candidate: str) -> bool:
    """Two dates side by side (2024-01-15 2024-02-15) are not one long number."""
    parts = candidate.split()
    return len(parts) > 1 and all(_DATE.match(p) or _YEARS.match(p) for p in parts)


def _dotted_phone(candidate: str) -> bool:
    """Dots only: a phone written French-style (01.23.45.67.89, 020.7946.0958); versions and sections are not."""
    groups = candidate.split(".")
    return candidate.startswith("0") and len(groups) >= 3 and all(2 <= len(g) <= 4 for g in groups)


def _looks_dialled(candidate: str) -> bool:
    """Separated digits that read like a phone number rather than a list of small numbers or a postcode."""
    if candidate.startswith(("0", "(")):
        return True
    groups = re.findall(r"\d+", candidate)
    if [len(g) for g in groups] == [4, 3]:
        return False  # a postcode (1250-147), not a local number (555-1234)
    return len(groups) <= 6 and max(len(g) for g in groups) >= 3
