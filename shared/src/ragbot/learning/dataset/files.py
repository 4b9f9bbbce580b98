"""The dataset folder: the two JSONL splits, the card and a readable README, written into place at once; read back
only when its files are still the ones its card describes.

    train.jsonl, validation.jsonl   one `{"prompt": [messages], "completion": [message], "meta": {…}}` per line
                                    (trl's conversational prompt-completion format)
    dataset_card.json               how it was built, the counts, each file's sha256 and the dataset's hash
    README.md                       the card, for people
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragbot.errors import InputError
from ragbot.learning.dataset.examples import Example

__all__ = ["DATASET_FORMAT", "LoadedDataset", "load_dataset", "write_dataset"]

DATASET_FORMAT = "ragbot-sft/1"


def write_dataset(
    out: Path, *, description: dict[str, Any], train: Sequence[Example], validation: Sequence[Example]
) -> dict[str, Any]:
    """Write the splits, the card and its README into `out`, which appears only once all of them are written.

    Args:
        out: The dataset folder to create (absent, or an empty folder).
        description: The card's account of how the dataset was built: prompt version, source, filters, split, counts.
        train: The training split.
        validation: The held-out split.

    Returns:
        The card: its format, when it was built, `description`, the files' hashes and the dataset's hash.
    """
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
        **description,
        "files": files,
        "hash": _dataset_hash(files),
    }
    (tmp / "dataset_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / "README.md").write_text(_readme(card), encoding="utf-8")
    if out.exists():
        out.rmdir()  # an empty folder given as --out; anything else was refused before building or fails here
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
