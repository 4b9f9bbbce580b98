"""`ragbot finetune train`: a LoRA adapter from a dataset, with peft and trl, resumable, with a model card.

    dataset      `ragbot finetune dataset`'s folder, checked against its card (hash)
    base         a local model folder (or a model id already in the local Hugging Face cache: nothing is
                 downloaded); it must have a chat template, which renders the prompts as the server will
    training     trl's SFTTrainer on prompt-completion examples: the loss is the answer's tokens only; LoRA on
                 `target_modules`; checkpoints every `save_steps` under OUT/checkpoints, and a run started again
                 with the same dataset, base and configuration resumes from the last one
    device       the GPU when there is one (bf16 where it is supported), else the CPU
    output       OUT/adapter: adapter_config.json + adapter_model.safetensors (what TGI's LORA_ADAPTERS loads),
                 ragbot-adapter.json and README.md (the model card: base model, dataset hash, prompt version,
                 configuration, losses, tokens per second, peak memory, time per epoch)

Examples longer than `max_length` tokens are left out (and counted), never cut: a cut example teaches the model
to stop mid-answer.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragbot.errors import ConfigurationError, InputError
from ragbot.learning.artifacts import ADAPTER_CARD, content_hash, read_json, write_json
from ragbot.learning.dataset import LoadedDataset

__all__ = ["TrainConfig", "load_base_model", "train_adapter"]

log = logging.getLogger(__name__)

_RUN = "run.json"


@dataclass(frozen=True)
class TrainConfig:
    """LoRA and optimisation settings (defaults: `RAGBOT_FINETUNE__*`)."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    epochs: float = 2.0
    learning_rate: float = 2e-4
    max_length: int = 2048
    batch_size: int = 4
    gradient_accumulation: int = 4
    save_steps: int = 100
    seed: int = 0
    max_steps: int | None = None


def train_adapter(
    dataset: LoadedDataset,
    *,
    base: str,
    out: Path,
    config: TrainConfig,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train a LoRA adapter on `dataset` over `base`; returns its card (also written to OUT/adapter).

    Raises:
        InputError: OUT holds a finished adapter, or another run's checkpoints.
        ConfigurationError: The training libraries are missing, or the base model cannot be loaded offline.
    """
    adapter_dir = out / "adapter"
    if (adapter_dir / ADAPTER_CARD).exists():
        raise InputError(f"{out} already holds a trained adapter: choose another --out")
    run = {"dataset": dataset.hash, "base": base, "config": _jsonable(asdict(config))}
    checkpoints = out / "checkpoints"
    if (out / _RUN).exists():
        earlier = read_json(out / _RUN, what="the training run")
        if earlier != run:
            raise InputError(
                f"{out} holds checkpoints of another run (a different dataset, base model or configuration): "
                "choose another --out, or repeat that run's flags to resume it"
            )
    else:
        write_json(out / _RUN, run)

    libs = _libraries()
    torch = libs["torch"]
    cuda = bool(torch.cuda.is_available())
    bf16 = cuda and bool(torch.cuda.is_bf16_supported())
    tokenizer, model = load_base_model(base, dtype=torch.bfloat16 if bf16 else torch.float32)
    train_rows, dropped = _fitting(dataset.train, tokenizer, max_length=config.max_length)
    validation_rows, _ = _fitting(dataset.validation, tokenizer, max_length=config.max_length)
    if not train_rows:
        raise InputError(f"no training example fits in --max-length {config.max_length} tokens with this tokenizer")

    say = progress or (lambda line: None)
    resume = libs["get_last_checkpoint"](str(checkpoints)) if checkpoints.is_dir() else None
    if resume:
        say(f"resuming from {Path(resume).name}")
    trainer = libs["SFTTrainer"](
        model=model,
        args=libs["SFTConfig"](
            output_dir=str(checkpoints),
            num_train_epochs=config.epochs,
            max_steps=config.max_steps or -1,
            per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=config.batch_size,
            gradient_accumulation_steps=config.gradient_accumulation,
            learning_rate=config.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=0,
            max_length=config.max_length,
            logging_steps=1,
            save_strategy="steps",
            save_steps=config.save_steps,
            save_total_limit=2,
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=config.seed,
            data_seed=config.seed,
            bf16=bf16,
            use_cpu=not cuda,
        ),
        train_dataset=libs["Dataset"].from_list(train_rows),
        eval_dataset=libs["Dataset"].from_list(validation_rows) if validation_rows else None,
        processing_class=tokenizer,
        peft_config=libs["LoraConfig"](
            r=config.rank,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=list(config.target_modules),
            task_type="CAUSAL_LM",
        ),
        callbacks=[_progress_callback(libs, say)],
    )
    # The trainer prints every log line to stdout (its PrinterCallback); our callback reports instead, on stderr.
    trainer.remove_callback(libs["PrinterCallback"])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    evaluation = trainer.evaluate() if validation_rows else {}
    trainer.model.save_pretrained(str(adapter_dir))

    history = trainer.state.log_history
    losses = [float(h["loss"]) for h in history if "loss" in h]
    tokens = max((float(h.get("num_tokens", 0)) for h in history), default=0.0)
    epochs_done = float(trainer.state.epoch or 0.0)
    metrics = {
        "steps": int(trainer.state.global_step),
        "epochs": round(epochs_done, 3),
        "examples": {"train": len(train_rows), "validation": len(validation_rows), "too_long": dropped},
        "first_loss": round(losses[0], 4) if losses else None,
        "last_loss": round(losses[-1], 4) if losses else None,
        "train_loss": round(float(result.training_loss), 4),
        "eval_loss": round(float(evaluation["eval_loss"]), 4) if "eval_loss" in evaluation else None,
        "seconds": round(seconds, 2),
        "tokens": int(tokens),
        "tokens_per_s": round(tokens / seconds, 1) if seconds > 0 else None,
        "seconds_per_epoch": round(seconds / epochs_done, 2) if epochs_done else None,
        "peak_memory_mb": _peak_memory_mb(torch, cuda=cuda),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "resumed_from": Path(resume).name if resume else None,
    }
    card = {
        "format": "ragbot-adapter/1",
        "created_at": datetime.now(UTC).isoformat(),
        "base_model": base,
        "prompt_version": dataset.card["prompt_version"],
        "dataset": {"hash": dataset.hash, "path": str(dataset.path), "counts": dataset.card["counts"]},
        "training": _jsonable(asdict(config)),
        "metrics": metrics,
        "content_hash": content_hash(adapter_dir),
    }
    write_json(adapter_dir / ADAPTER_CARD, card)
    (adapter_dir / "README.md").write_text(_model_card(card), encoding="utf-8")
    return card


def _libraries() -> dict[str, Any]:
    """What training needs (imported only here: `ragbot finetune` is the only caller)."""
    try:
        import datasets
        import torch
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import TrainerCallback
        from transformers.trainer_callback import PrinterCallback
        from transformers.trainer_utils import get_last_checkpoint
        from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]
    except ImportError as err:
        raise _missing(err) from err
    _quiet()
    datasets.disable_progress_bars()
    return {
        "torch": torch,
        "Dataset": Dataset,
        "LoraConfig": LoraConfig,
        "TrainerCallback": TrainerCallback,
        "PrinterCallback": PrinterCallback,
        "get_last_checkpoint": get_last_checkpoint,
        "SFTConfig": SFTConfig,
        "SFTTrainer": SFTTrainer,
    }


def load_base_model(base: str, *, dtype: Any = None) -> tuple[Any, Any]:
    """The base model's tokenizer and weights, offline; training and evaluation load it the same way.

    Raises:
        ConfigurationError: It cannot be loaded from `base`, or has no chat template.
    """
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as err:
        raise _missing(err) from err
    _quiet()
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype if dtype is not None else torch.float32)
    except (OSError, ValueError) as err:
        raise ConfigurationError(
            f"cannot load the base model {base!r} offline ({' '.join(str(err).split())[:300]}): give the folder "
            "that holds it (config.json, weights, tokenizer)"
        ) from err
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigurationError(
            f"the base model {base!r} has no chat template: use its instruct/chat variant, whose template "
            "the model server applies too"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def _missing(err: ImportError) -> ConfigurationError:
    return ConfigurationError(
        f"fine-tuning needs the finetune extra ({err.name} is missing): pip install 'ragbot[finetune]'"
    )


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    # peft still calls an API transformers deprecated for v6; the warning is theirs, not the operator's.
    warnings.filterwarnings("ignore", message=".*deprecated and will be removed in v6", category=FutureWarning)


def _fitting(rows: list[dict[str, Any]], tokenizer: Any, *, max_length: int) -> tuple[list[dict[str, Any]], int]:
    """The rows (prompt and completion only) whose rendered length fits; and how many did not."""
    kept = []
    for row in rows:
        ids = tokenizer.apply_chat_template([*row["prompt"], *row["completion"]], tokenize=True)
        length = len(ids["input_ids"] if hasattr(ids, "keys") else ids)  # a BatchEncoding or a list of ids
        if length <= max_length:
            kept.append({"prompt": row["prompt"], "completion": row["completion"]})
    return kept, len(rows) - len(kept)


def _progress_callback(libs: dict[str, Any], say: Callable[[str], None]) -> Any:
    base: Any = libs["TrainerCallback"]

    class Progress(base):  # type: ignore[misc]
        def __init__(self) -> None:
            self._last = 0.0

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if not logs or "loss" not in logs:
                return
            if time.monotonic() - self._last >= 10 or state.global_step >= state.max_steps:
                self._last = time.monotonic()
                say(f"step {state.global_step}/{state.max_steps}  loss {float(logs['loss']):.4f}")

    return Progress()


def _peak_memory_mb(torch: Any, *, cuda: bool) -> float:
    if cuda:
        return round(float(torch.cuda.max_memory_allocated()) / 2**20, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _model_card(card: dict[str, Any]) -> str:
    m, t = card["metrics"], card["training"]
    return f"""---
library_name: peft
base_model: {card["base_model"]}
tags: [lora, ragbot]
---

# ragbot LoRA adapter

A LoRA adapter for `{card["base_model"]}` that answers from numbered sources with citations, trained by
`ragbot finetune train` on prompts `{card["prompt_version"]}`.

- Dataset: `{card["dataset"]["hash"]}` ({m["examples"]["train"]} training examples, {
        m["examples"]["validation"]
    } validation; {m["examples"]["too_long"]} longer than {t["max_length"]} tokens left out)
- LoRA: rank {t["rank"]}, alpha {t["alpha"]}, dropout {t["dropout"]}, on {", ".join(t["target_modules"])}
- Training: {m["steps"]} steps, {m["epochs"]} epochs, learning rate {t["learning_rate"]}, batch {t["batch_size"]} × {
        t["gradient_accumulation"]
    } accumulation, on {m["device"]}
- Loss: {m["first_loss"]} → {m["last_loss"]} (validation {m["eval_loss"]})
- Speed: {m["tokens_per_s"]} tokens/s, {m["seconds_per_epoch"]} s per epoch, peak memory {m["peak_memory_mb"]} MB
- Content hash: `{card["content_hash"]}`

Serve it with TGI (`LORA_ADAPTERS=<name>=<this folder>`) after `ragbot finetune evaluate` and
`ragbot finetune publish`.
"""
