"""The files the learning loop writes and reads: an adapter folder, its cards, and their content hash.

An adapter folder, as `ragbot finetune train` writes it and TGI serves it (`LORA_ADAPTERS=name=path`):

    adapter_config.json          peft's LoRA configuration          } the adapter's content: its hash is its identity
    adapter_model.safetensors    the LoRA weights                   }
    ragbot-adapter.json          the machine-readable model card: base model, dataset hash, prompt version,
                                 training configuration and metrics, content hash
    README.md                    the same card for people
    evaluation.json              the last `ragbot finetune evaluate` report (what `publish` checks)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ragbot.errors import InputError

__all__ = [
    "ADAPTER_CARD",
    "CONTENT_FILES",
    "EVALUATION",
    "content_hash",
    "read_adapter_card",
    "read_json",
    "write_json",
]

ADAPTER_CARD = "ragbot-adapter.json"
EVALUATION = "evaluation.json"
CONTENT_FILES = ("adapter_config.json", "adapter_model.safetensors")


def content_hash(directory: Path) -> str:
    """The sha256 of an adapter's configuration and weights: what TGI loads, nothing else.

    Raises:
        InputError: The folder lacks one of them.
    """
    digest = hashlib.sha256()
    for name in CONTENT_FILES:
        path = directory / name
        if not path.is_file():
            raise InputError(f"{directory} is not a LoRA adapter folder: {name} is missing")
        digest.update(f"{name}\n".encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_json(path: Path, *, what: str) -> dict[str, Any]:
    """A JSON object from `path`; a missing or malformed file is an `InputError` naming `what` it should be."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path.parent} has no {path.name} ({what})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read {path} ({what}): {err}") from err
    if not isinstance(value, dict):
        raise InputError(f"{path} ({what}) is not a JSON object")
    return value


def read_adapter_card(directory: Path) -> dict[str, Any]:
    """An adapter's card, checked against the files beside it.

    Raises:
        InputError: No card, or the weights changed since the card was written.
    """
    digest = content_hash(directory)
    card = read_json(directory / ADAPTER_CARD, what="the adapter card 'ragbot finetune train' writes")
    if card.get("content_hash") != digest:
        raise InputError(f"{directory}: the adapter's files changed since it was trained (the hash is not the card's)")
    return card


def write_json(path: Path, value: Any) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
