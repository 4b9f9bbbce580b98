"""No personal data in the interaction log, review output, the advisor, datasets or any log line; and every
question is recorded, whatever characters it holds.

The corpus (tests/resilience/redaction_corpus.py) is asserted example by example and measured as a whole; hypothesis
generates the ordinary numbers that must stay and the card-like runs that must go. A hostile question with sentinel
personal data then goes through the real hops (retrieve → generate → reply over the embedded index, the fake TGI,
Redis and the SQLite interaction log), with every logger at DEBUG.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.backends.redis_state import RedisHopLedger
from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.bootstrap import build_model_answerer, build_model_server
from ragbot.flow.generate import answer_retrieval
from ragbot.flow.reply import apologize, deliver
from ragbot.flow.retrieve import retrieve_question
from ragbot.generation.condense import ModelCondenser
from ragbot.generation.extractive import ExtractiveGenerator
from ragbot.ingestion import Chunker, ingest, open_source
from ragbot.interactions.records import FeedbackEntry, UserHasher, outcome_record
from ragbot.interactions.redact import redact
from ragbot.models import Answer, ConversationRef, Feedback, Outcome, Question, Turn
from ragbot.observability.logs import JsonFormatter, PlainFormatter
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import AnswerSettings, RetrievalSettings, TgiSettings
from tests.cli.test_cli import ragbot
from tests.conftest import HANDBOOK
from tests.fakes.hash_embedder import HashEmbedder
from tests.fakes.tgi import FakeTgi
from tests.resilience.redaction_corpus import MUST_GO, MUST_STAY, Secret

REDIS_URL = "redis://127.0.0.1:6379/6"
HASHER = UserHasher("resilience-key")


# ---- the corpus


@pytest.mark.parametrize("secret", MUST_GO, ids=lambda s: s.text[:40])
def test_personal_data_and_secrets_go(secret: Secret) -> None:
    redacted = redact(secret.text)
    assert secret.placeholder in redacted
    assert not [fragment for fragment in secret.gone if fragment in redacted], redacted


@pytest.mark.parametrize("text", MUST_STAY)
def test_ordinary_text_stays(text: str) -> None:
    assert redact(text) == text


def test_the_corpus_rates_are_what_the_docs_say() -> None:
    """docs/CHAT.md ("Personal data") quotes these counts; change both together."""
    missed = [s.text for s in MUST_GO if s.placeholder not in redact(s.text)]
    over = [t for t in MUST_STAY if redact(t) != t]
    assert (len(MUST_GO), len(missed)) == (60, 0)
    assert (len(MUST_STAY), len(over)) == (67, 0)


def test_the_handbook_loses_only_its_contact_details() -> None:
    """Over-redaction on real prose: the sample handbook's pages, full of dates, amounts, versions and ids."""
    removed: list[str] = []
    numbers = 0
    for path in sorted(HANDBOOK.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        words = path.read_text(encoding="utf-8").split()
        numbers += sum(any(c.isdigit() for c in word) for word in words)
        matcher = difflib.SequenceMatcher(None, words, redact(" ".join(words)).split(), autojunk=False)
        removed += [" ".join(words[i:j]) for op, i, j, _, _ in matcher.get_opcodes() if op != "equal"]
    contact = re.compile(r"^\S+@\S+$|^\+[\d ]+,?$|^hunter2\.$")  # a mailbox, an office phone, a planted password
    assert removed and not [text for text in removed if not contact.match(text)]
    assert numbers > 700  # the words with digits in them, which all survive: dates, amounts, versions, ids


# ---- generated: what must stay and what must go

_YEAR = st.integers(1990, 2039)
_MONTH = st.integers(1, 12)
_DAY = st.integers(1, 28)


@st.composite
def _ordinary(draw: st.DrawFn) -> str:
    y, m, d = draw(_YEAR), draw(_MONTH), draw(_DAY)
    hh, mm, ss = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    amount = draw(st.integers(1000, 99_999_999))
    major, minor, patch = draw(st.integers(0, 30)), draw(st.integers(0, 99)), draw(st.integers(0, 9999))
    forms = [
        f"{y}-{m:02d}-{d:02d}",
        f"{d:02d}.{m:02d}.{y}",
        f"{m}/{d}/{y}",
        f"{y}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z",
        f"{y}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{patch:03d}+01:00",
        f"{y}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}",
        f"{hh:02d}:{mm:02d}-{mm // 2:02d}:{ss:02d}",
        f"v{major}.{minor}.{patch}",
        f"{major}.{minor}.{patch}",
        f"€{amount:,}".replace(",", "."),
        f"${amount:,}.{ss:02d}",
        f"{amount:,} EUR".replace(",", " "),
        f"order {draw(st.integers(10**8, 10**12 - 1))}",
        f"ticket #{draw(st.integers(10**6, 10**10))}",
        f"{draw(st.integers(0, 10**8 - 1))} items",
        f"{y}-{y + draw(st.integers(1, 9))}",
        f"10.{major}.{minor}.{patch % 256}",
    ]
    return draw(st.sampled_from(forms))


@given(_ordinary(), st.sampled_from(["", "See ", "Since ", "(", "It was "]), st.sampled_from(["", ".", ")", " ok"]))
@settings(max_examples=400, deadline=None)
def test_dates_times_versions_amounts_and_ids_stay(value: str, before: str, after: str) -> None:
    text = f"{before}{value}{after}"
    assert redact(text) == text


@st.composite
def _card_like(draw: st.DrawFn) -> str:
    digits = draw(st.text(alphabet="0123456789", min_size=13, max_size=19))
    parts = [digits[0]]
    for digit in digits[1:]:
        parts.append(draw(st.sampled_from(["", "", "", " ", "-"])) + digit)
    number = "".join(parts)
    return f"({number})" if draw(st.booleans()) else number


@given(_card_like(), st.sampled_from(["card ", "", "pay with ", "my number is "]))
@settings(max_examples=400, deadline=None)
def test_any_card_like_run_goes_luhn_or_not(number: str, before: str) -> None:
    redacted = redact(f"{before}{number} thanks")
    assert not any(c.isdigit() for c in redacted), redacted
    assert "[card]" in redacted or "[phone]" in redacted  # a run that starts 00 reads as an international number


@given(st.ip_addresses(v=4))
@settings(max_examples=300, deadline=None)
def test_public_addresses_go_and_company_ones_stay(address: object) -> None:
    text = f"from {address} today"
    if address.is_global:  # type: ignore[attr-defined]
        assert redact(text) == "from [ip] today"
    else:
        assert redact(text) == text


_FRAGMENTS = st.sampled_from([s.text for s in MUST_GO] + list(MUST_STAY) + ["[token]", "[email]", ":", " is ", "\n"])


@given(st.lists(_FRAGMENTS, max_size=6), st.sampled_from([" ", ", ", ": ", "\n", " = "]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_redaction_is_idempotent(parts: list[str], joint: str) -> None:
    once = redact(joint.join(parts))
    assert redact(once) == once


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_redacts_without_failing(text: str) -> None:
    assert isinstance(redact(text), str)


# ---- text that cannot be encoded


def test_text_from_outside_is_made_valid_where_the_models_are_built() -> None:
    question = Question(
        question_id="q-bad",
        text="leave \ud800 days\x00?\x1b[2J \ud83d\ude00",
        history=(Turn(role="user", text="earlier\udfff\x00\nline"),),
    )
    assert question.text == "leave \ufffd days? [2J \U0001f600"
    assert question.history[0].text == "earlier\ufffd\nline"
    feedback = Feedback(question_id="q-bad", platform="slack", user="U1", value="down", comment="bad\ud800\x00")
    assert feedback.comment == "bad\ufffd"
    assert Question.model_validate_json(question.model_dump_json()) == question  # it survives every hop's JSON
    with pytest.raises(ValueError, match="the question is empty"):
        Question(question_id="q-nul", text="\x00\x00 \x07")


@pytest.fixture
def ledger() -> Iterator[RedisHopLedger]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("these tests need Redis on 127.0.0.1:6379")
    yield RedisHopLedger(client)
    client.close()


class RecordingSender:
    """A platform's `ReplySender`: what it was asked to say."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def send_answer(self, outcome: Outcome) -> None:
        self.said.append(outcome.answer.text)

    def send_notice(self, conversation: ConversationRef, text: str) -> None:
        self.said.append(text)


def _qid() -> str:
    return f"res-{uuid.uuid4()}"  # unique: DB 6 is shared, nothing here flushes it


def test_a_question_with_a_lone_surrogate_gets_its_failure_recorded(tmp_path: Path, ledger: RedisHopLedger) -> None:
    question = Question(question_id=_qid(), text="why \ud800 no answer\x00?", asker="U1")
    sender, log = RecordingSender(), SqliteInteractionLog(tmp_path)
    try:
        apologize(question, sender=sender, ledger=ledger, interactions=log, hasher=HASHER, error="failed at generate")
        record = log.get(question.question_id)
    finally:
        log.close()
    assert len(sender.said) == 1
    assert record is not None and record.status == "failed" and record.question == "why \ufffd no answer?"


def test_an_answer_quoting_broken_text_is_still_recorded(tmp_path: Path, ledger: RedisHopLedger) -> None:
    """The answer (from a document or the model) is not built from outside text: the record makes it safe."""
    question = Question(question_id=_qid(), text="what does the broken page say?", asker="U1")
    answer = Answer(text="It says \ud800 and\x00 more [1].", model="extractive")
    sender, log = RecordingSender(), SqliteInteractionLog(tmp_path)
    try:
        deliver(
            Outcome(question=question, answer=answer), sender=sender, ledger=ledger, interactions=log, hasher=HASHER
        )
        record = log.get(question.question_id)
    finally:
        log.close()
    assert record is not None and record.answer == "It says \ufffd and more [1]."


# ---- a hostile question through the real hops, every logger listening

EMAIL, PHONE, CARD = "zed.sentinel@example.com", "+44 20 7946 0317", "4000-3141-5926-5358"
PASSWORD, TOKEN, IBAN = "Qu1ckSilver!", "ghp_S3ntinelS3ntinelS3ntinel1234", "DE89 3704 0044 0532 0130 00"
MARKER = "Xylophonic"  # not personal data, but question text: it may be stored, never logged
PERSONAL = (
    "zed.sentinel",
    "7946 0317",
    "3141-5926",
    "31415926",
    "Qu1ckSilver",
    "S3ntinel",
    "0532 0130",
    "U-SENTINEL",
)
HOSTILE = (
    f"{MARKER} leave question: mail {EMAIL} or call {PHONE}; card {CARD}; my password is {PASSWORD}; "
    f"token {TOKEN}; IBAN {IBAN}. How many days of annual leave do I get?"
)


@pytest.fixture(scope="module")
def handbook_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedIndex]:
    """The sample handbook, indexed with the hashing embedder (as tests/e2e/conftest.py does)."""
    index = EmbeddedIndex(tmp_path_factory.mktemp("handbook"))
    ingest([open_source(HANDBOOK)], index=index, embedder=HashEmbedder(), chunker=Chunker())
    yield index
    index.close()


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            caplog.set_level(logging.DEBUG, logger=name)
            assert logger.propagate or logger.handlers, name  # nothing escapes caplog silently
    return caplog


def _logged(records: list[logging.LogRecord]) -> str:
    """Everything a handler could write of these records: raw fields, both formatters, tracebacks."""
    plain, lines = logging.Formatter(), []
    for record in records:
        lines.append(repr({k: v for k, v in vars(record).items() if k != "exc_info"}))
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(plain.formatException(record.exc_info))
        lines.append(JsonFormatter().format(record))
        lines.append(PlainFormatter().format(record))
    return "\n".join(lines)


@pytest.mark.parametrize("model", ["fails, echoing the request", "answers, echoing the question"])
def test_a_hostile_question_leaves_no_personal_data_in_logs_or_records(
    model: str,
    handbook_index: EmbeddedIndex,
    tmp_path: Path,
    ledger: RedisHopLedger,
    every_logger_at_debug: pytest.LogCaptureFixture,
) -> None:
    question = Question(
        question_id=_qid(),
        text=HOSTILE,
        asker="U-SENTINEL",
        principals=("*", f"user:{EMAIL}"),
        conversation=ConversationRef(platform="slack", channel="C1", thread="1.0"),
        history=(Turn(role="user", text=f"earlier: {HOSTILE}"), Turn(role="assistant", text="25 days [1].")),
        asked_at=datetime.now(UTC).timestamp(),
    )
    sender, log = RecordingSender(), SqliteInteractionLog(tmp_path)
    with FakeTgi() as tgi:
        if model.startswith("fails"):  # a server whose errors quote what it was sent (condense, then generate)
            for _ in range(2):
                tgi.fail_next(422, error_type="validation", error=f"Input validation error: {HOSTILE}")
        else:
            echoed = f"You wrote {EMAIL}, {CARD}, {IBAN}; your password is {PASSWORD} 25 days [1]."
            tgi.responder = lambda request: echoed
        server = build_model_server(TgiSettings(url=tgi.url))
        retriever = Retriever(embedder=HashEmbedder(), index=handbook_index, settings=RetrievalSettings())
        extractive = ExtractiveGenerator(embedder=HashEmbedder(), settings=AnswerSettings(min_confidence=0.0))
        generator = build_model_answerer(TgiSettings(url=tgi.url), fallback=extractive)
        try:
            retrieval = retrieve_question(question, retriever=retriever, condenser=ModelCondenser(server))
            outcome = answer_retrieval(retrieval, generator=generator)
            deliver(outcome, sender=sender, ledger=ledger, interactions=log, hasher=HASHER)
            failed = question.model_copy(update={"question_id": _qid()})
            apologize(
                failed, sender=sender, ledger=ledger, interactions=log, hasher=HASHER, error=f"failed: {CARD} {EMAIL}"
            )
            stored = [log.get(question.question_id), log.get(failed.question_id)]
        finally:
            log.close()
    assert len(tgi.chat_requests()) >= 2  # the model was asked to condense and to answer
    assert outcome.answer.reason == ("degraded" if model.startswith("fails") else "")
    assert len(sender.said) == 2  # the answer and the apology went out

    logs = _logged(every_logger_at_debug.records)
    assert every_logger_at_debug.records  # the hops did log (the degraded answer, the HTTP calls)
    assert not [s for s in (*PERSONAL, MARKER, EMAIL, "hunter") if s in logs]

    assert all(record is not None for record in stored)
    dumped = json.dumps([record.model_dump(mode="json") for record in stored if record is not None])
    assert not [s for s in (*PERSONAL, "[token]!") if s in dumped], dumped
    assert MARKER in dumped  # the question is kept, redacted
    for placeholder in ("[email]", "[phone]", "[card]", "[token]", "[iban]"):
        assert placeholder in dumped
    disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("interactions.sqlite3"))
    assert not [s for s in PERSONAL if s.encode() in disk]


def test_the_log_formatters_redact_and_drop_pydantic_input_values() -> None:
    """What other libraries log, and exception texts, pass the same redaction on the way out."""
    with pytest.raises(ValueError) as invalid:
        Question(question_id="", text=f"{MARKER} {EMAIL}")
    record = logging.LogRecord("lib", logging.ERROR, __file__, 1, "call %s, card %s", (PHONE, CARD), None)
    record.exc_info = (invalid.type, invalid.value, invalid.tb)
    for line in (JsonFormatter().format(record), PlainFormatter().format(record)):
        assert "input_value=…" in line and "[phone]" in line and "[card]" in line
        assert not [s for s in (*PERSONAL, MARKER) if s in line], line


# ---- the records kept from before a rule existed are shown and trained on under today's rules


def test_review_and_advise_show_old_records_redacted_again(tmp_path: Path) -> None:
    question = Question(
        question_id="q-old", text="How many leave days?", asker="U1", asked_at=datetime.now(UTC).timestamp()
    )
    record = outcome_record(
        Outcome(question=question, answer=Answer(text="25 days.", model="m")), hasher=HASHER, timings_ms={}
    )
    # As an earlier redaction left it: a card number that failed Luhn, a password phrase.
    kept = f"card {CARD}, my password is {PASSWORD}: how many leave days?"
    old = record.model_copy(update={"question": kept, "status": "refused", "reason": "low confidence"})
    log = SqliteInteractionLog(tmp_path)
    log.record(old)
    log.add_feedback(
        "q-old", FeedbackEntry(user_hash="u2", value="down", comment=f"call {PHONE}", given_at=old.asked_at)
    )
    log.close()
    env = {"RAGBOT_INTERACTIONS__USER_HASH_KEY": "resilience-key"}
    review = ragbot("review", "list", "--json", data_dir=tmp_path, settings=env)
    advice = ragbot("advise", "--json", data_dir=tmp_path, settings=env)
    assert review.returncode == 0 and advice.returncode == 0, review.stderr + advice.stderr
    assert json.loads(review.stdout)["answers"][0]["question_id"] == "q-old"
    assert "q-old" in advice.stdout
    for shown in (review.stdout, advice.stdout):
        assert not [s for s in PERSONAL if s in shown], shown
        assert "[card]" in shown and "[token]" in shown
