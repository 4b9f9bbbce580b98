"""`ragbot finetune dataset`: supervised fine-tuning examples from the interaction log, and the card that says how.

Which records become examples:

    👍 outweighs 👎       an answered question whose answer people liked: the answer, as given, is the target
    a correction          a reviewer's corrected answer (`ragbot review correct`) is the target, whatever the
                          original said; a correction that says "I don't know" teaches a refusal
    everything else       skipped, and counted by reason in the card (refused, degraded, a follow-up whose thread
                          is not logged, invalid citations, sources changed since, documents not everyone may read)

Each example is the prompt production sends (`ragbot.generation.prompting.build_prompt`, the current PROMPT_VERSION, the
asker's platform) over the sources as they were shown, resolved from the knowledge store by chunk id and checked
against the content hash logged with the answer, plus distractors: passages from other documents, the ones the
keyword leg finds closest to the question first. The sources are shuffled and renumbered, and the target's `[n]`
markers follow them, so the model learns to cite the passage that holds the answer, not the first one. A share
of questions also appears with distractors only and "I don't know" as the target, so it learns to refuse.

Everything is redacted again on the way out (the log is already; the documents may name people), only passages
that `allow` principals may read are used (an adapter answers everyone: what it learns must be public to them),
questions are de-duplicated (a correction wins, then the newest), and the newest `validation_share` of questions
is held out (split by time, never by chance: the validation set is what the model has not seen yet).

Output: `train.jsonl` and `validation.jsonl`, one `{"prompt": [messages], "completion": [message], "meta": {…}}`
per line (trl's conversational prompt-completion format), `dataset_card.json` and a readable `README.md`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from ragbot.errors import InputError
from ragbot.generation.citations import MARKER, cited_numbers, is_model_refusal
from ragbot.generation.prompting import PROMPT_VERSION, build_prompt, estimate_tokens
from ragbot.interactions.records import InteractionRecord
from ragbot.interactions.redact import redact
from ragbot.models import Chunk, ConversationRef, Passage, Question
from ragbot.ports import DocumentIndex
from ragbot.texts import MODEL_REFUSAL

__all__ = [
    "DATASET_FORMAT",
    "DatasetOptions",
    "DatasetTooSmall",
    "LoadedDataset",
    "build_dataset",
    "load_dataset",
]

DATASET_FORMAT = "ragbot-sft/1"
_ANSWER_TOKENS = 512  # room kept for the target inside max_length (the prompt gets the rest)

Kind = Literal["answer", "correction", "refusal"]


class DatasetTooSmall(InputError):
    """Too few usable examples to train on; the message says why records were skipped."""


@dataclass(frozen=True)
class DatasetOptions:
    """How a dataset is built (defaults: `RAGBOT_FINETUNE__*`)."""

    since: datetime | None = None
    min_examples: int = 50
    validation_share: float = 0.2
    distractors: int = 2
    refusal_share: float = 0.25
    allow: tuple[str, ...] = ("*",)
    max_length: int = 2048
    seed: int = 0


@dataclass(frozen=True)
class _Target:
    record: InteractionRecord
    kind: Kind
    text: str


@dataclass(frozen=True)
class _Example:
    question_id: str
    question: str
    kind: Kind
    asked_at: datetime
    platform: str
    messages: list[dict[str, str]]
    answer: str
    sources: list[dict[str, Any]]
    cited: list[int]

    def line(self) -> str:
        return json.dumps(
            {
                "prompt": self.messages,
                "completion": [{"role": "assistant", "content": self.answer}],
                "meta": {
                    "question_id": self.question_id,
                    "question": self.question,
                    "kind": self.kind,
                    "asked_at": self.asked_at.isoformat(),
                    "platform": self.platform,
                    "sources": self.sources,
                    "cited": self.cited,
                    "prompt_version": PROMPT_VERSION,
                },
            },
            ensure_ascii=False,
        )


@dataclass
class _Tally:
    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1


def build_dataset(
    records: Iterable[InteractionRecord],
    *,
    index: DocumentIndex,
    out: Path,
    options: DatasetOptions,
    sources: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Build the dataset into `out` (which must not hold one already) and return its card.

    Args:
        records: The interaction log's records (already redacted and hashed).
        index: The knowledge store the answers were retrieved from: sources are resolved from it.
        out: The dataset folder to create.
        options: Filters, split and mixing.
        sources: Names of the log and store, for the card.

    Raises:
        DatasetTooSmall: Fewer than `options.min_examples` examples, or nothing to hold out.
        InputError: `out` already holds a dataset.
    """
    if (out / "dataset_card.json").exists():
        raise InputError(f"{out} already holds a dataset (datasets are not overwritten): choose another --out")
    tally = _Tally()
    rows = [r for r in records if options.since is None or r.asked_at >= options.since]
    targets = _deduplicated([t for t in (_target(r, tally) for r in rows) if t is not None], tally)
    wanted = {ref.chunk_id for t in targets for ref in _shown(t.record)}
    chunks = index.chunks(sorted(wanted)) if wanted else {}
    mixer = _Mixer(index, allow=options.allow)
    examples: list[_Example] = []
    used: list[_Target] = []
    for target in sorted(targets, key=lambda t: (t.record.asked_at, t.record.question_id)):
        built = _examples(target, chunks=chunks, mixer=mixer, options=options, tally=tally)
        if built:
            used.append(target)
            examples.extend(built)
    train, validation, boundary = _split(used, examples, share=options.validation_share)
    if len(examples) < options.min_examples or not train or not validation:
        raise DatasetTooSmall(_too_small(len(rows), len(examples), len(validation), options, tally))

    tmp = out.with_name(f".{out.name}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files = {}
    for name, part in (("train.jsonl", train), ("validation.jsonl", validation)):
        body = "".join(e.line() + "\n" for e in part).encode()
        (tmp / name).write_bytes(body)
        files[name] = {"sha256": hashlib.sha256(body).hexdigest(), "examples": len(part)}
    card = {
        "format": DATASET_FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "prompt_version": PROMPT_VERSION,
        "source": {**(sources or {}), "records": len(rows)},
        "filters": {
            "since": options.since.isoformat() if options.since else None,
            "targets": "answers whose 👍 outweigh their 👎, and reviewers' corrected answers",
            "allow": list(options.allow),
            "distractors": options.distractors,
            "refusal_share": options.refusal_share,
            "max_length": options.max_length,
            "seed": options.seed,
            "redacted": True,
            "deduplicated": "by normalized question; a correction wins, then the newest",
        },
        "split": {"by": "asked_at", "validation_share": options.validation_share, "validation_from": boundary},
        "counts": {
            "records": len(rows),
            "questions": len(used),
            "examples": len(examples),
            "train": len(train),
            "validation": len(validation),
            "by_kind": dict(Counter(e.kind for e in examples)),
            "validation_by_kind": dict(Counter(e.kind for e in validation)),
            "skipped": dict(tally.skipped.most_common()),
        },
        "files": files,
        "hash": _dataset_hash(files),
    }
    (tmp / "dataset_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / "README.md").write_text(_readme(card), encoding="utf-8")
    if out.exists():
        out.rmdir()  # an empty folder given as --out; anything else was refused above or fails here
    tmp.rename(out)
    return card


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset folder, checked against its card."""

    path: Path
    card: dict[str, Any]
    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]

    @property
    def hash(self) -> str:
        return str(self.card["hash"])


def load_dataset(path: Path) -> LoadedDataset:
    """Read a dataset folder; its files must be the ones its card describes.

    Raises:
        InputError: Not a dataset folder, or its files changed since it was built.
    """
    card_path = path / "dataset_card.json"
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path} is not a dataset folder (no dataset_card.json): build one with 'ragbot finetune dataset'"
        ) from None
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read {card_path}: {err}") from err
    if card.get("format") != DATASET_FORMAT:
        raise InputError(f"{card_path}: format {card.get('format')!r} is not {DATASET_FORMAT!r}")
    parts: dict[str, list[dict[str, Any]]] = {}
    for name, described in card["files"].items():
        try:
            body = (path / name).read_bytes()
        except OSError as err:
            raise InputError(f"cannot read {path / name}: {err}") from err
        if hashlib.sha256(body).hexdigest() != described["sha256"]:
            raise InputError(f"{path / name} changed since the dataset was built (its hash is not the card's)")
        parts[name] = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
    return LoadedDataset(path, card, parts["train.jsonl"], parts["validation.jsonl"])


# -- choosing targets -----------------------------------------------------------------------------------------------


def _target(record: InteractionRecord, tally: _Tally) -> _Target | None:
    corrections = sorted((f for f in record.feedback if f.correction), key=lambda f: f.given_at)
    if record.history_turns:
        tally.skip("a follow-up (its thread is not logged)")
        return None
    if corrections:
        text = " ".join(corrections[-1].correction.split())
        return _Target(record, "refusal" if is_model_refusal(text) else "correction", text)
    if record.status != "answered":
        tally.skip(f"{record.status}, not corrected")
        return None
    ups = sum(f.value == "up" for f in record.feedback)
    downs = sum(f.value == "down" for f in record.feedback)
    if ups <= downs:
        tally.skip("no feedback" if not record.feedback else "👎 outweigh 👍, not corrected")
        return None
    if record.usage.get("invalid_citations", 0):
        tally.skip("cited passages it was not given")
        return None
    return _Target(record, "answer", " ".join(record.answer.split()))


def _normalized(question: str) -> str:
    return " ".join(re.findall(r"\w+", question.casefold()))


def _deduplicated(targets: list[_Target], tally: _Tally) -> list[_Target]:
    best: dict[str, _Target] = {}
    for target in targets:
        key = _normalized(target.record.question)
        kept = best.get(key)
        if kept is None or _preference(target) > _preference(kept):
            best[key] = target
    if len(best) < len(targets):
        tally.skipped["duplicate question"] += len(targets) - len(best)
    return list(best.values())


def _preference(target: _Target) -> tuple[bool, datetime]:
    return target.kind != "answer", target.record.asked_at


def _shown(record: InteractionRecord) -> list[Any]:
    ranked = sorted(record.retrieved, key=lambda r: r.rank)
    shown = record.usage.get("passages_shown")
    return ranked[:shown] if shown else ranked


# -- building examples ------------------------------------------------------------------------------------------------


class _Mixer:
    """Distractor passages: other documents' chunks, the keyword leg's closest to the question first."""

    def __init__(self, index: DocumentIndex, *, allow: Sequence[str]) -> None:
        self._index = index
        self._allow = tuple(allow)
        self._pool: list[str] | None = None

    def pick(self, question: str, *, avoid_docs: set[str], count: int, rng: random.Random) -> list[Chunk]:
        if count <= 0:
            return []
        found = self._index.search_keyword(question, principals=self._allow, k=count * 4 + len(avoid_docs) + 5)
        ids = [c for c in found.chunk_ids if c.split("#", 1)[0] not in avoid_docs]
        picked: list[str] = []
        seen_docs = set(avoid_docs)
        for chunk_id in ids:
            doc = chunk_id.split("#", 1)[0]
            if doc not in seen_docs:
                picked.append(chunk_id)
                seen_docs.add(doc)
            if len(picked) == count:
                break
        if len(picked) < count:
            pool = [d for d in self._documents() if d not in seen_docs]
            picked += [f"{doc}#0" for doc in rng.sample(pool, min(len(pool), count - len(picked)))]
        resolved = self._index.chunks(picked)
        return [resolved[c] for c in picked if c in resolved and _readable(resolved[c], self._allow)]

    def _documents(self) -> list[str]:
        if self._pool is None:
            self._pool = sorted(d for d, stored in self._index.documents().items() if not stored.duplicate_of)
        return self._pool


def _readable(chunk: Chunk, allow: Sequence[str]) -> bool:
    return bool(set(chunk.acl) & set(allow))


def _examples(
    target: _Target, *, chunks: dict[str, Chunk], mixer: _Mixer, options: DatasetOptions, tally: _Tally
) -> list[_Example]:
    record = target.record
    cited = set(cited_numbers(target.text))
    kept: dict[int, Chunk] = {}
    for ref in _shown(record):
        chunk = chunks.get(ref.chunk_id)
        changed = chunk is None or bool(ref.content_hash) and chunk.content_hash != ref.content_hash
        unreadable = chunk is not None and not _readable(chunk, options.allow)
        if ref.rank in cited and (changed or unreadable):
            tally.skip(
                "documents not everyone may read (--allow)"
                if unreadable and not changed
                else "a cited source changed or was removed since"
            )
            return []
        if chunk is not None and not changed and not unreadable:
            kept[ref.rank] = chunk
    if target.kind != "refusal" and not cited:
        tally.skip("the answer cites no source")
        return []
    if target.kind != "refusal" and not cited <= set(kept):
        tally.skip("cites a passage it was not shown")
        return []

    rng = random.Random(f"{options.seed}:{record.question_id}")  # noqa: S311 - shuffling, not secrecy
    avoid = {ref.doc_id for ref in record.retrieved}
    extra = mixer.pick(record.question, avoid_docs=avoid, count=options.distractors + len(kept), rng=rng)
    built = []
    main = _example(
        target,
        list(kept.items()),
        extra[: options.distractors],
        text=target.text,
        rng=rng,
        kind=target.kind,
        options=options,
    )
    if main is None:
        tally.skip(f"the cited sources do not fit in --max-length {options.max_length}")
        return []
    built.append(main)
    if target.kind != "refusal" and len(extra) >= 2 and rng.random() < options.refusal_share:
        absent = _example(target, [], extra, text=MODEL_REFUSAL, rng=rng, kind="refusal", options=options)
        if absent is not None:
            built.append(absent)
    return built


def _example(
    target: _Target,
    shown: list[tuple[int, Chunk]],
    distractors: list[Chunk],
    *,
    text: str,
    rng: random.Random,
    kind: Kind,
    options: DatasetOptions,
) -> _Example | None:
    """One example: sources shuffled and renumbered, the target's markers renumbered with them.

    When the cited sources do not all fit in `max_length`, the last other source goes, until they do (or none is
    left to drop: then there is no example).
    """
    record = target.record
    question = Question(
        question_id=record.question_id,
        text=redact(record.question),
        conversation=ConversationRef(platform=record.platform if record.platform in ("slack", "teams") else "cli"),
    )
    needed = set(cited_numbers(text)) if kind != "refusal" else set()
    pool: list[tuple[int | None, Chunk]] = [*shown, *((None, c) for c in distractors)]
    rng.shuffle(pool)
    while True:
        renumber = {old: new for new, (old, _) in enumerate(pool, start=1) if old is not None}
        answer = redact(_renumbered(text, renumber) if kind != "refusal" else MARKER.sub("", text).strip())
        passages = [
            Passage(chunk=chunk.model_copy(update={"text": redact(chunk.text)}), score=0.0, rank=n)
            for n, (_, chunk) in enumerate(pool, start=1)
        ]
        budget = options.max_length - max(estimate_tokens(answer), 64) - 16
        prompt = build_prompt(question, passages, budget_tokens=max(budget, 1), max_passages=len(passages))
        cited = sorted(set(cited_numbers(answer)))
        if set(cited) <= set(prompt.shown) and pool:
            break
        spare = [i for i, (old, _) in enumerate(pool) if old not in needed]
        if not spare:
            return None
        pool.pop(spare[-1])
    sources = [
        {"n": p.rank, "chunk_id": p.chunk.chunk_id, "doc_id": p.chunk.doc_id, "distractor": old is None}
        for p, (old, _) in zip(passages, pool, strict=True)
        if p.rank in prompt.shown
    ]
    return _Example(
        record.question_id,
        question.text,
        kind,
        record.asked_at,
        question.conversation.platform,
        prompt.messages,
        answer,
        sources,
        cited,
    )


def _renumbered(text: str, renumber: dict[int, int]) -> str:
    def swap(match: re.Match[str]) -> str:
        return match.group(0).replace(f"[{match.group(1)}]", f"[{renumber[int(match.group(1))]}]")

    return MARKER.sub(swap, text)


# -- split, size, card ------------------------------------------------------------------------------------------------


def _split(
    used: list[_Target], examples: list[_Example], *, share: float
) -> tuple[list[_Example], list[_Example], str | None]:
    """The newest `share` of questions (all their examples) are held out."""
    if len(used) < 2:
        return examples, [], None
    held = max(1, round(len(used) * share))
    boundary = used[-held]
    held_ids = {t.record.question_id for t in used[-held:]}
    train = [e for e in examples if e.question_id not in held_ids]
    validation = [e for e in examples if e.question_id in held_ids]
    return train, validation, boundary.record.asked_at.isoformat()


def _too_small(records: int, examples: int, validation: int, options: DatasetOptions, tally: _Tally) -> str:
    reasons = ", ".join(f"{count} {reason}" for reason, count in tally.skipped.most_common(4)) or "none skipped"
    since = f" since {options.since:%Y-%m-%d}" if options.since else ""
    if examples >= options.min_examples:
        return f"{examples} examples from {records} records{since}, but none left to hold out for validation"
    return (
        f"only {examples} usable examples from {records} logged questions{since}; at least {options.min_examples} "
        f"are needed (--min-examples). Skipped: {reasons}. Collect 👍 and review 👎 answers "
        "('ragbot review list', 'ragbot review correct') for more"
    )


def _dataset_hash(files: dict[str, dict[str, Any]]) -> str:
    lines = "".join(f"{name}:{files[name]['sha256']}\n" for name in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def _readme(card: dict[str, Any]) -> str:
    counts, filters = card["counts"], card["filters"]
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts["by_kind"].items()))
    skipped = "\n".join(f"- {reason}: {n}" for reason, n in counts["skipped"].items()) or "- none"
    return f"""# ragbot fine-tuning dataset

- Built: {card["created_at"]} from {counts["records"]} logged questions{
        f" since {filters['since']}" if filters["since"] else ""
    }
- Prompt: `{card["prompt_version"]}` (what production sends)
- Examples: {counts["examples"]} ({kinds}) from {counts["questions"]} questions
- Split by time: {counts["train"]} train, {counts["validation"]} validation (asked from {
        card["split"]["validation_from"]
    })
- Sources: only documents readable by {", ".join(f"`{p}`" for p in filters["allow"])}; {
        filters["distractors"]
    } distractors per example; {filters["refusal_share"]:.0%} of questions also as refusals
- Personal data: redacted; questions de-duplicated
- Hash: `{card["hash"]}`

## Skipped records

{skipped}
"""
