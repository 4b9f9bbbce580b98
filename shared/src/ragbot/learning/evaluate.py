"""`ragbot finetune evaluate`: the candidate adapter and the served one answer the held-out split; a gate decides.

Both answer every validation example of the dataset the candidate was trained on, from the same prompts, with
greedy decoding on the same base model; "the served one" is the registry's current adapter, or the base model
when none is current. Each answer is scored against its reference:

    citation_validity    answerable examples answered with at least one [n], every [n] a source it was shown
    cited_reference      answerable examples citing a source the reference cites (the right one, not just any)
    refusal_precision    of the answers that said "I don't know", the share whose sources really lacked it
    refusal_recall       of the examples whose sources lack the answer, the share that said "I don't know"
    format_compliance    answers that ended on their own (not cut by the token limit), are not empty, at most
                         max(600 characters, 3 × the reference), with no headings, tables, prompt markup or
                         chat tokens
    answer_overlap       token F1 with the reference answer (answerable examples), citation markers aside

The gate refuses a candidate that falls more than `tolerance` below the served model on any of them. A metric
with nothing to measure (no refusal said, say) is reported as null and not gated. Every miss is kept with its
signal; `ragbot advise` reads the served model's misses as evidence of behaviour defects.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragbot.errors import InputError
from ragbot.generation.citations import MARKER, cited_numbers, is_model_refusal, snippet
from ragbot.learning.dataset import LoadedDataset

__all__ = ["EVALUATION_FORMAT", "GATED", "Scored", "evaluate_adapter", "gate", "score_answer", "summarize"]

EVALUATION_FORMAT = "ragbot-evaluation/1"
GATED = (
    "citation_validity",
    "cited_reference",
    "refusal_precision",
    "refusal_recall",
    "format_compliance",
    "answer_overlap",
)

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s", re.M)
_TABLE = re.compile(r"^\s*\|?.*\|.*\n\s*\|?\s*:?-{3,}", re.M)
_LEAK = re.compile(r"</?sources>|<\|[a-z_]+\|>|^\s*Question:|\[\d+\] [^\n]* \(updated \d{4}-\d\d-\d\d\)", re.I | re.M)
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Scored:
    """One answer against its reference."""

    question_id: str
    question: str
    kind: str
    refused: bool
    valid_citations: bool
    cited_reference: bool
    format_ok: bool
    overlap: float | None
    miss: str | None
    answer: str

    @property
    def answerable(self) -> bool:
        return self.kind != "refusal"


def score_answer(row: dict[str, Any], text: str, *, stopped: bool) -> Scored:
    """Score a model's `text` for a dataset `row`; `stopped`: it ended by itself, not at the token limit."""
    meta = row["meta"]
    reference = str(row["completion"][0]["content"])
    shown = {int(s["n"]) for s in meta["sources"]}
    markers = cited_numbers(text)
    refused = is_model_refusal(text) and not markers
    valid = bool(markers) and set(markers) <= shown
    right = bool(set(markers) & set(meta["cited"]))
    limit = max(600, 3 * len(reference))
    format_ok = (
        stopped
        and bool(text.strip())
        and len(text) <= limit
        and not _HEADING.search(text)
        and not _TABLE.search(text)
        and not _LEAK.search(text)
    )
    answerable = meta["kind"] != "refusal"
    overlap = _f1(text, reference) if answerable else None
    miss = None
    if not answerable and not refused:
        miss = "answered when its sources did not hold the answer"
    elif answerable and refused:
        miss = "refused although its sources held the answer"
    elif answerable and not valid:
        miss = "uncited, or cited a source it was not given"
    elif answerable and not right:
        miss = "cited the wrong source"
    elif not format_ok:
        miss = "off-format, too long or cut off"
    return Scored(
        meta["question_id"],
        meta.get("question", ""),
        meta["kind"],
        refused,
        valid,
        right,
        format_ok,
        overlap,
        miss,
        text,
    )


def summarize(scores: Sequence[Scored]) -> dict[str, Any]:
    """The gated metrics over `scores` (None where there is nothing to measure), and the counts behind them."""
    answerable = [s for s in scores if s.answerable]
    absent = [s for s in scores if not s.answerable]
    refused = [s for s in scores if s.refused]

    def share(hits: int, total: int) -> float | None:
        return round(hits / total, 4) if total else None

    overlaps = [s.overlap for s in answerable if s.overlap is not None]
    return {
        "examples": len(scores),
        "answerable": len(answerable),
        "refusal_targets": len(absent),
        "citation_validity": share(sum(s.valid_citations for s in answerable), len(answerable)),
        "cited_reference": share(sum(s.cited_reference for s in answerable), len(answerable)),
        "refusal_precision": share(sum(not s.answerable for s in refused), len(refused)),
        "refusal_recall": share(sum(s.refused for s in absent), len(absent)),
        "format_compliance": share(sum(s.format_ok for s in scores), len(scores)),
        "answer_overlap": round(sum(overlaps) / len(overlaps), 4) if overlaps else None,
        "misses": dict(Counter(s.miss for s in scores if s.miss).most_common()),
    }


def gate(candidate: dict[str, Any], current: dict[str, Any], *, tolerance: float) -> dict[str, Any]:
    """Pass unless a gated metric of the candidate is more than `tolerance` below the current model's."""
    deltas: dict[str, float | None] = {}
    regressions = []
    for name in GATED:
        ours, theirs = candidate.get(name), current.get(name)
        if ours is None or theirs is None:
            deltas[name] = None
            continue
        deltas[name] = round(ours - theirs, 4)
        if ours < theirs - tolerance:
            regressions.append(name)
    return {
        "passed": not regressions and candidate.get("examples", 0) > 0,
        "tolerance": tolerance,
        "deltas": deltas,
        "regressions": regressions,
        "not_gated": [name for name, delta in deltas.items() if delta is None],
    }


Generate = Callable[[list[dict[str, str]], str | None], tuple[str, bool]]
"""(prompt messages, adapter name or None for the base model) → (answer, ended by itself)."""


def evaluate_adapter(
    candidate_dir: Path,
    *,
    candidate_card: dict[str, Any],
    dataset: LoadedDataset,
    current: tuple[str, Path, dict[str, Any]] | None,
    max_new_tokens: int,
    tolerance: float,
    limit: int | None = None,
    generate: Generate | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Answer the validation split with the candidate and the current model, score both, apply the gate.

    Args:
        candidate_dir: The adapter folder under test.
        candidate_card: Its card (`read_adapter_card`).
        dataset: The dataset it was trained on (its validation split is held out from training).
        current: (registry id, folder, card) of the served adapter, or None for the base model.
        max_new_tokens: Answer length limit.
        tolerance: How far a gated metric may fall.
        limit: Evaluate only the first N validation examples.
        generate: The model call (default: the base model with both adapters, loaded here with peft).

    Returns:
        The report (`EVALUATION_FORMAT`).
    """
    if candidate_card["dataset"]["hash"] != dataset.hash:
        raise InputError(
            f"the adapter was trained on dataset {candidate_card['dataset']['hash'][:12]}, not "
            f"{dataset.hash[:12]}: another dataset's validation split may hold its training examples"
        )
    if current is not None and current[2]["base_model"] != candidate_card["base_model"]:
        raise InputError(
            f"the served adapter {current[0]} is for base model {current[2]['base_model']!r}, the candidate for "
            f"{candidate_card['base_model']!r}: they cannot be compared on one model server"
        )
    rows = dataset.validation[:limit] if limit else dataset.validation
    if not rows:
        raise InputError(f"{dataset.path}: the validation split is empty")
    if generate is None:
        generate = _LocalModels(
            candidate_card["base_model"],
            {"candidate": candidate_dir, **({"current": current[1]} if current else {})},
            max_new_tokens=max_new_tokens,
        )
    say = progress or (lambda line: None)
    scores: dict[str, list[Scored]] = {"candidate": [], "current": []}
    for done, row in enumerate(rows, start=1):
        for subject in scores:
            adapter = "candidate" if subject == "candidate" else ("current" if current else None)
            text, stopped = generate(row["prompt"], adapter)
            scores[subject].append(score_answer(row, text, stopped=stopped))
        if done % 10 == 0 or done == len(rows):
            say(f"evaluated {done}/{len(rows)} examples")
    metrics = {subject: summarize(found) for subject, found in scores.items()}
    return {
        "format": EVALUATION_FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "prompt_version": candidate_card["prompt_version"],
        "base_model": candidate_card["base_model"],
        "candidate": {"path": str(candidate_dir), "content_hash": candidate_card["content_hash"]},
        "against": {
            "id": current[0] if current else "base",
            "content_hash": current[2]["content_hash"] if current else None,
        },
        "dataset": {"hash": dataset.hash, "examples": len(rows)},
        "max_new_tokens": max_new_tokens,
        "metrics": metrics,
        "gate": gate(metrics["candidate"], metrics["current"], tolerance=tolerance),
        "misses": {
            subject: [
                {
                    "question_id": s.question_id,
                    "question": s.question,
                    "kind": s.kind,
                    "signal": s.miss,
                    "answer": snippet(s.answer, limit=200),
                }
                for s in found
                if s.miss
            ]
            for subject, found in scores.items()
        },
    }


class _LocalModels:
    """The base model with LoRA adapters attached by name (peft), answering greedily on the GPU or the CPU."""

    def __init__(self, base: str, adapters: dict[str, Path], *, max_new_tokens: int) -> None:
        import torch
        from peft import PeftModel

        from ragbot.learning.train import load_base_model

        self._torch = torch
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self._device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
        self._tokenizer, model = load_base_model(base, dtype=dtype)
        (first, first_dir), *others = adapters.items()
        model = PeftModel.from_pretrained(model, str(first_dir), adapter_name=first)
        for name, directory in others:
            model.load_adapter(str(directory), adapter_name=name)
        self._model: Any = model.to(self._device).eval()
        self._max_new_tokens = max_new_tokens

    def __call__(self, messages: list[dict[str, str]], adapter: str | None) -> tuple[str, bool]:
        tokenizer = self._tokenizer
        encoded = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self._device)
        options = {
            "max_new_tokens": self._max_new_tokens,
            "do_sample": False,
            "pad_token_id": tokenizer.pad_token_id,
        }
        with self._torch.no_grad():
            if adapter is None:
                with self._model.disable_adapter():
                    output = self._model.generate(**encoded, **options)
            else:
                self._model.set_adapter(adapter)
                output = self._model.generate(**encoded, **options)
        new = output[0][encoded["input_ids"].shape[1] :]
        stopped = len(new) < self._max_new_tokens or int(new[-1]) == tokenizer.eos_token_id
        return str(tokenizer.decode(new, skip_special_tokens=True)).strip(), stopped


def _f1(answer: str, reference: str) -> float:
    ours = Counter(w.lower() for w in _WORD.findall(MARKER.sub(" ", answer)))
    theirs = Counter(w.lower() for w in _WORD.findall(MARKER.sub(" ", reference)))
    common = sum((ours & theirs).values())
    if not common:
        return 0.0
    precision, recall = common / sum(ours.values()), common / sum(theirs.values())
    return round(2 * precision * recall / (precision + recall), 4)
