"""Building a fine-tuning dataset from the interaction log: targets chosen, examples built, split by time, written.

Only questions asked since `options.since` count. The newest `validation_share` of questions is held out (split by
time, never by chance: the validation set is what the model has not seen yet). Too few examples, or none to hold
out, and nothing is written: the refusal says why records were skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ragbot.errors import InputError
from ragbot.generation.prompting import PROMPT_VERSION
from ragbot.interactions.records import InteractionRecord
from ragbot.learning.dataset.examples import Example, examples_for
from ragbot.learning.dataset.files import write_dataset
from ragbot.learning.dataset.options import DatasetOptions
from ragbot.learning.dataset.sources import Mixer, shown
from ragbot.learning.dataset.support import AnswerSupport, principals_in
from ragbot.learning.dataset.targets import Tally, Target, choose_target, deduplicated
from ragbot.ports import DocumentIndex

__all__ = ["DatasetTooSmall", "build_dataset"]


class DatasetTooSmall(InputError):
    """Too few usable examples to train on; the message says why records were skipped."""


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
    tally = Tally()
    rows = [r for r in records if options.since is None or r.asked_at >= options.since]
    targets = deduplicated([t for t in (choose_target(r, tally) for r in rows) if t is not None], tally)
    wanted = {ref.chunk_id for t in targets for ref in shown(t.record)}
    chunks = index.chunks(sorted(wanted)) if wanted else {}
    mixer = Mixer(index, allow=options.allow)
    asked_as = (p for t in targets for p in t.record.principals)
    support = AnswerSupport(index, allow=options.allow, others=principals_in(index, also=asked_as)) if targets else None
    examples: list[Example] = []
    used: list[Target] = []
    for target in sorted(targets, key=lambda t: (t.record.asked_at, t.record.question_id)):
        built = examples_for(target, chunks=chunks, mixer=mixer, options=options, tally=tally, support=support)
        if built:
            used.append(target)
            examples.extend(built)
    train, validation, boundary = _split(used, examples, share=options.validation_share)
    if len(examples) < options.min_examples or not train or not validation:
        raise DatasetTooSmall(_too_small(len(rows), len(examples), len(validation), options, tally))

    description = {
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
    }
    return write_dataset(out, description=description, train=train, validation=validation)


def _split(
    used: list[Target], examples: list[Example], *, share: float
) -> tuple[list[Example], list[Example], str | None]:
    """The newest `share` of questions (all their examples) are held out."""
    if len(used) < 2:
        return examples, [], None
    held = max(1, round(len(used) * share))
    boundary = used[-held]
    held_ids = {t.record.question_id for t in used[-held:]}
    train = [e for e in examples if e.question_id not in held_ids]
    validation = [e for e in examples if e.question_id in held_ids]
    return train, validation, boundary.record.asked_at.isoformat()


def _too_small(records: int, examples: int, validation: int, options: DatasetOptions, tally: Tally) -> str:
    reasons = ", ".join(f"{count} {reason}" for reason, count in tally.skipped.most_common(4)) or "none skipped"
    since = f" since {options.since:%Y-%m-%d}" if options.since else ""
    if examples >= options.min_examples:
        return f"{examples} examples from {records} records{since}, but none left to hold out for validation"
    return (
        f"only {examples} usable examples from {records} logged questions{since}; at least {options.min_examples} "
        f"are needed (--min-examples). Skipped: {reasons}. Collect 👍 and review 👎 answers "
        "('ragbot review list', 'ragbot review correct') for more"
    )
