"""Settings from ``autoglm.yaml`` in the working directory and ``AUTOGLM_*`` environment variables.

The environment wins over the file. State (the SQLite database, the knowledge base) lives in ``AUTOGLM_HOME``, or
the user's data directory when that is unset.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError

CONFIG_FILE = "autoglm.yaml"


class NodeConfig(BaseModel):
    """One model node: a remote OpenAI-compatible server (``base_url``) or a local GGUF file (``model_path``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
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
    retries: int = Field(default=1, ge=0, le=10, description="extra tries for a failing step")
    max_concurrency: int | None = Field(default=None, ge=1)
    planner: Literal["auto", "rules", "model"] = "auto"
    home: Path | None = None
    database_url: str | None = None
    nodes: list[NodeConfig] = Field(default_factory=list)
    default_city: str | None = Field(default=None, description="used when a request names no place")
    timezone: str | None = None

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
