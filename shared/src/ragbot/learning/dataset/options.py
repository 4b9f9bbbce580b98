"""What a fine-tuning dataset is built from and how: the date filter, the size, the split and the mixing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["DatasetOptions"]


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
