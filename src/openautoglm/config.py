"""Settings from ``autoglm.yaml`` in the working directory and ``AUTOGLM_*`` environment variables.

The environment wins over the file. State (the SQLite database, the knowledge base) lives in ``AUTOGLM_HOME``, or
the user's data directory when that is unset.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .embeddings import EmbeddingsConfig
from .errors import ConfigError
from .memory.kb.config import KnowledgeConfig

CONFIG_FILE = "autoglm.yaml"


class NodeConfig(BaseModel):
    """One model node: a remote OpenAI-compatible server (``base_url``) or a local GGUF file (``model_path``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    backend: str | None = Field(default=None, description="a model backend by name (models/backends.py); "
                                "default: openai with base_url, local without")
    base_url: str | None = None
    model_path: str | None = None
    api_key: str | None = None
    model: str | None = None
    capabilities: list[str] = Field(default_factory=lambda: ["text-generation"])
    weight: float = Field(default=1.0, gt=0)
    cost: float = Field(default=0.0, ge=0, description="relative cost per 1k tokens, for cost-aware routing")
    context_window: int | None = None
    can_plan: bool | None = Field(default=None, description="trust it to write whole plans (default: remote yes)")
    timeout_s: float = Field(default=60.0, gt=0)
    replicas: int = Field(default=2, ge=1, le=64, description="backend ray: how many Ray actors serve the model")
    ray_address: str | None = Field(default=None, description="backend ray: the cluster; unset: the one this "
                                    "process joined already (executor: ray), RAY_ADDRESS, or a local Ray")


class RouteConfig(BaseModel):
    """How the router serves one capability: strategy, retries on other nodes, then the fallback chain."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field(default="weighted", description="weighted, least_inflight, hash, cost, or a registered "
                          "one (models/pool/strategies.py)")
    retries: int = Field(default=1, ge=0, le=10, description="tries on other nodes of the same capability")
    fallbacks: list[str] = Field(default_factory=list, description="capabilities or node names tried next, in order")


class RouterSettings(BaseModel):
    """The pool of model nodes (used when ``nodes`` is set or nodes register). In autoglm.yaml under ``router:``."""

    model_config = ConfigDict(extra="forbid")

    routes: dict[str, RouteConfig] = Field(default_factory=dict, description="per capability; others use `default`")
    default: RouteConfig = Field(default_factory=RouteConfig)
    breaker_failures: int = Field(default=5, ge=1, description="consecutive failures that open a node's breaker")
    breaker_cooldown_s: float = Field(default=30.0, gt=0, description="before a half-open probe call")
    probe_interval_s: float | None = Field(default=30.0, gt=0, description="active health probes; null: off")
    node_ttl_s: float = Field(default=30.0, gt=0, description="a registered node silent this long leaves the pool")
    node_sync_s: float = Field(default=1.0, gt=0, le=60, description="how often a gateway reads the registered "
                               "nodes from the store, so a node registered or removed through another replica "
                               "joins or leaves here within this")
    cache_ttl_s: float = Field(default=86400.0, gt=0)
    cache_nondeterministic: bool = Field(default=False, description="also cache temperature>0 calls without a seed")


class PolicySettings(BaseModel):
    """Routing policies and their loop (policies/). In autoglm.yaml under ``policy:``."""

    model_config = ConfigDict(extra="forbid")

    poll_s: float = Field(default=1.0, ge=0.05, le=60, description="how often a gateway reads the active version "
                          "from the store, so a change made through another replica applies within this")
    loop: bool = Field(default=False, description="propose policies from the signals, try them as canaries, keep or "
                       "roll back (run it on one replica)")
    interval_s: float = Field(default=30.0, ge=0.1, le=3600, description="between the loop's looks at the signals")
    canary_share: float = Field(default=0.2, ge=0.01, le=0.5, description="share of calls a canary routes")
    window: int = Field(default=120, ge=20, le=2000, description="canary (or newly activated) calls by which a "
                        "decision is made at the latest")
    min_calls: int = Field(default=20, ge=10, le=500, description="calls of each side before any test is run")
    alpha: float = Field(default=0.01, gt=0, le=0.2, description="significance of the tests that roll back")


class GatewaySettings(BaseModel):
    """The gateway (``autoglm serve``): credentials, limits, telemetry. In autoglm.yaml under ``gateway:``."""

    model_config = ConfigDict(extra="forbid")

    jwt_algorithms: list[str] = Field(default_factory=lambda: ["RS256"],
                                      description="accepted JWT algorithms; the token header never chooses")
    jwt_key: str | None = Field(default=None, description="HS* secret, or RS*/ES* public key (PEM text or a path)")
    jwt_issuer: str = "openautoglm"
    jwt_audience: str = "openautoglm-gateway"
    token_signing_key: str | None = Field(
        default=None, description="signs the tokens POST /v1/oauth/token issues: an HS* secret or an RS*/ES* private "
        "key (PEM text or a path), for the first of jwt_algorithms; unset with HS*: jwt_key; unset otherwise: off")
    token_ttl_s: int = Field(default=900, ge=1, le=900, description="lifetime of an issued token (at most 15 min)")
    rate_limit_per_minute: float = Field(default=600, gt=0, description="per API key or token subject")
    rate_limit_burst: int = Field(default=60, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_concurrent_requests: int = Field(default=256, ge=1)
    max_running_tasks: int = Field(default=16, ge=1, description="tasks beyond this wait in a queue")
    # 5 s: a dead replica's tasks run again elsewhere within about 1.3 ttl (bench/recovery.py), under the 10 s aimed at.
    lease_ttl_s: float = Field(default=5.0, gt=0, description="a running task's lease in the store, renewed every "
                               "quarter of it; a task whose holder died is taken over this long after")
    drain_timeout_s: float = Field(default=30.0, ge=0, description="on shutdown (SIGTERM), how long running tasks "
                                   "may take to reach a step boundary before they are stopped mid-step")
    request_timeout_s: float = Field(default=120.0, gt=0, description="until the response starts")
    live_poll_s: float = Field(default=1.0, gt=0, le=60, description="a live event stream (SSE) reads the task's "
                               "log again after this long without a live event: how a task running on another "
                               "replica is followed when no redis_url carries its events")
    otlp_endpoint: str | None = Field(default=None, description="OTLP/HTTP traces endpoint, e.g. http://collector:4318")
    tls_cert: Path | None = Field(default=None, description="PEM certificate (chain): serve HTTPS (with tls_key)")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert")


class ApprovalSettings(BaseModel):
    """How long a tool with side effects waits for a person (``POST /v1/approvals/{id}``), and who is asked next."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float | None = Field(default=300.0, gt=0, description="until the request escalates (or, without "
                                    "escalate_to, expires: denied); null: it waits until someone decides")
    escalate_to: str | None = Field(default=None, description="a role (operator, admin) asked after timeout_s; "
                                    "once escalated only that role (or admin) may decide")
    escalation_timeout_s: float | None = Field(default=3600.0, gt=0, description="after escalating, until it "
                                               "expires; null: it waits until someone decides")
    poll_s: float = Field(default=1.0, gt=0, le=60, description="how often a waiting step reads decisions made "
                          "through another replica")


class TriggerConfig(BaseModel):
    """``POST /v1/events/<name>`` with an HMAC-SHA256-signed body starts ``workflow`` with the body as its inputs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$", max_length=64)
    workflow: str = Field(description="a workflow's name (`autoglm workflows list`)")
    secret: str = Field(description='"env:VAR", or a value sealed with `autoglm secrets seal` (never plain text)')
    approve: list[str] = Field(default_factory=list, description="tools this trigger's runs may call without "
                               "waiting for a person (its author approves them here); the others wait for one")
    role: Literal["viewer", "user", "operator", "admin"] = Field(default="user", description="what its runs may do")
    max_skew_s: float = Field(default=300.0, gt=0, le=86400, description="older (or newer) timestamps are refused: "
                              "a captured request cannot be replayed later")


class MCPServerConfig(BaseModel):
    """An MCP server whose tools become ``<name>.<tool>``: a command run over stdio, or a streamable HTTP ``url``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="added to a minimal inherited environment")
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every HTTP request")
    timeout_s: float = Field(default=30.0, gt=0, description="per tool call")
    connect_timeout_s: float = Field(default=30.0, gt=0)
    side_effects: bool | None = Field(default=None, description="override the server's readOnlyHint annotations")
    roles: list[str] | None = None

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerConfig:
        if bool(self.command) == bool(self.url):
            raise ValueError(f"MCP server '{self.name}' needs either `command` (stdio) or `url` (HTTP), not both")
        return self


class OpenAPIConfig(BaseModel):
    """An HTTP API described by an OpenAPI 3 document; each operation becomes the tool ``<name>.<operationId>``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")
    spec: str = Field(description="path or http(s) URL of the OpenAPI 3 document (JSON or YAML)")
    base_url: str | None = Field(default=None, description="default: the document's first server")
    headers: dict[str, str] = Field(default_factory=dict, description='sent with every call: a value or "env:VAR"')
    allow_private: bool = Field(default=False, description="let this API's own host be loopback/private on purpose")
    side_effects: dict[str, bool] = Field(default_factory=dict, description="operationId -> override")
    timeout_s: float = Field(default=30.0, gt=0)
    roles: list[str] | None = None


class SQLDatabaseConfig(BaseModel):
    """A database whose tables become tools ``sql.<name>.query`` / ``.tables`` (+ ``.execute`` with writes)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")
    url: str = Field(description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db")
    allow_writes: bool = Field(default=False, description="add sql.<name>.execute (needs approval per call)")
    max_rows: int = Field(default=100, ge=1, le=10_000)
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    allow_superuser: bool = Field(default=False, description="PostgreSQL: accept a login that can write server "
                                  "files or run programs (COPY TO), which read-only transactions do not stop")
    description: str | None = None


class SupportSettings(BaseModel):
    """The customer-service application (apps/support/): where a reply goes by its confidence, and the tools it
    drafts from. In autoglm.yaml under ``support:``."""

    model_config = ConfigDict(extra="forbid")

    auto_reply: float = Field(default=0.9, ge=0, le=1, description="confidence from which a reply goes out by itself")
    suggest: float = Field(default=0.7, ge=0, le=1, description="confidence from which a draft is suggested to an "
                           "agent; below it the conversation is handed over")
    order_tool: str | None = Field(default=None, description="the tool that looks an order up, e.g. "
                                   "orders.get_order (an openapi operation) or a SQL query tool; unset: no lookups")
    order_id_arg: str = Field(default="order_id", description="the order tool's argument that takes the order id")
    order_id_pattern: str = Field(default=r"\b[A-Z]{2,5}-\d{3,12}\b",
                                  description="how an order id looks in a message (a regular expression)")
    phrase_with_model: bool = Field(default=False, description="let the model rephrase a draft; kept only when "
                                    "every number and name in it is found in the sources")

    @model_validator(mode="after")
    def _ordered(self) -> SupportSettings:
        if self.suggest > self.auto_reply:
            raise ValueError("support.suggest must not be above support.auto_reply")
        return self
class SMTPSettings(BaseModel):
    """Where report mail goes out. The password may be a value, ``env:VAR``, or a value sealed with
    ``autoglm secrets seal`` (so autoglm.yaml never holds it in clear)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    sender: str = Field(default="autoglm@localhost", description="the From address")
    starttls: bool = False
    ssl: bool = Field(default=False, description="SMTP over TLS from the first byte (port 465)")
    timeout_s: float = Field(default=30.0, gt=0)


class ReportSettings(BaseModel):
    """Reports (``autoglm report``): where definitions and outputs live, the CJK font, mail. Under ``reports:``."""

    model_config = ConfigDict(extra="forbid")

    dir: Path | None = Field(default=None, description="report definitions; default: ./reports and "
                             "<data dir>/reports, then the bundled ones")
    out_dir: Path | None = Field(default=None, description="where runs write; default: <data dir>/report-runs")
    font: Path | None = Field(default=None, description="a font file with Chinese glyphs; default: the first "
                              "installed CJK font (fonts-noto-cjk)")
    smtp: SMTPSettings = Field(default_factory=SMTPSettings)
    tick_s: float = Field(default=15.0, gt=0, description="how often a gateway looks for due schedules")
    claim_ttl_s: float = Field(default=300.0, gt=0, description="a slot claimed by a replica that died is taken "
                               "over after this long")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOGLM_", extra="forbid", env_nested_delimiter="__")

    model_provider: str = Field(
        default="local",
        description="'local' for the embedded model, a configured node's name, or an OpenAI-compatible base_url",
    )
    model: str | None = Field(default=None, description="model name at an OpenAI-compatible model_provider")
    api_key: str | None = None
    model_path: str | None = Field(default=None, description="a GGUF file to use instead of the embedded one")
    enable_caching: bool = True
    tools: list[str] = Field(default_factory=lambda: ["builtin"])
    timeout_seconds: float = Field(default=30.0, gt=0)
    task_timeout_s: float = Field(default=3600.0, gt=0, description="a task's whole execution; past it the task "
                                  "fails, so no plan holds a runner slot forever")
    retries: int = Field(default=1, ge=0, le=10, description="extra tries for a failing step")
    max_concurrency: int | None = Field(default=None, ge=1)
    executor: str = Field(default="local", description="where steps run: local (this process) or ray (each step "
                          "a Ray task on the cluster at ray_address; the ray extra), or a registered executor")
    ray_address: str | None = Field(default=None, description="executor: ray: the cluster's head, host:port or "
                                    "auto; unset: RAY_ADDRESS, else a Ray started in this process")
    ray_worker_retries: int = Field(default=3, ge=0, le=20, description="executor: ray: how many times a step "
                                    "whose worker died is sent again (each recorded) before it fails")
    planner: str = Field(default="auto", description="rules, model, a registered planner, or auto: model when a "
                         "node that can plan is in the pool at planning time, else rules")
    planning_timeout_s: float = Field(default=8.0, gt=0, le=600, description="what the model planner may spend on "
                                      "one plan, repairs included; past it the rule planner's plan is used "
                                      "(a budget.cut event)")
    home: Path | None = None
    database_url: str | None = None
    secret_key_file: Path | None = Field(
        default=None, description="base64 AES-256 keys, one a line, the first current, that seal stored secrets; "
        "default: AUTOGLM_SECRET_KEY, else <data dir>/secret.key (made on first use, mode 0600)")
    encrypt_content: bool = Field(default=False, description="seal prompts and answers (tasks, session turns) too")
    nodes: list[NodeConfig] = Field(default_factory=list)
    router: RouterSettings = Field(default_factory=RouterSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    cache_url: str | None = Field(default=None, description="redis://host:port/db for the response cache; "
                                  "default: SQLite in the data dir")
    coordinator_url: str | None = Field(default=None, description="the gateway a `Node` registers with")
    default_city: str | None = Field(default=None, description="used when a request names no place")
    timezone: str | None = None
    currency_rates: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="what one unit of each currency is worth in a common one, e.g. {CNY: 1, "
        "USD: 7.1}; measure.convert converts currencies only at these rates (none are built in)")
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    mcp_servers: list[MCPServerConfig] = Field(default_factory=list)
    workflows_dir: Path | None = Field(default=None, description="default: <data_dir>/workflows and ./workflows")
    auth: Literal["required", "disabled"] = Field(default="required", description="gateway credentials")
    redis_url: str | None = Field(default=None, description="what replicas and CLI runs share live: rate limits, "
                                  "node breaker trips (cooldowns), task events for live streams")
    redis_prefix: str = Field(default="autoglm:", max_length=100, description="prefix of every Redis key and "
                              "channel of ours, so deployments can share one Redis")
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    http_allow: list[str] = Field(default_factory=list, description="hosts/CIDRs outbound tools may reach though "
                                  "private or loopback")
    http_timeout_s: float = Field(default=15.0, gt=0, description="outbound HTTP, whole exchange")
    http_max_bytes: int = Field(default=5_000_000, ge=1024, description="largest outbound HTTP response body")
    openapi: list[OpenAPIConfig] = Field(default_factory=list)
    files_root: Path | None = Field(default=None, description="the folder files.read may read (off when unset)")
    weather_geocoding_url: str = "https://geocoding-api.open-meteo.com/v1/search"
    weather_forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    sql_databases: list[SQLDatabaseConfig] = Field(default_factory=list)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    triggers: list[TriggerConfig] = Field(default_factory=list)
    support: SupportSettings = Field(default_factory=SupportSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings

    @property
    def data_dir(self) -> Path:
        if self.home:
            path = Path(self.home).expanduser()
        else:
            base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
            path = Path(base) / "openautoglm"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'autoglm.db'}"


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read ``path`` (default ``./autoglm.yaml`` if present), let ``AUTOGLM_*`` override it, then ``overrides``."""
    file_values: dict[str, Any] = {}
    candidate = Path(path) if path else Path.cwd() / CONFIG_FILE
    if path and not candidate.is_file():
        raise ConfigError(f"config file not found: {candidate}")
    if candidate.is_file():
        try:
            loaded = yaml.safe_load(candidate.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{candidate} is not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{candidate} must be a mapping of settings")
        file_values = loaded or {}
    env_names = {f"AUTOGLM_{name.upper()}" for name in Settings.model_fields}
    # Environment variables win over the file: drop file values the environment sets.
    for key in list(file_values):
        if f"AUTOGLM_{str(key).upper()}" in env_names and f"AUTOGLM_{str(key).upper()}" in os.environ:
            file_values.pop(key)
    try:
        return Settings(**(file_values | overrides))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        source = candidate.name if candidate.is_file() else "settings"
        raise ConfigError(f"{source}: {where}: {first['msg']}") from exc
