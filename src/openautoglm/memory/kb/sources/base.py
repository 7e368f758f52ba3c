"""The source interface and its registry.

A source is one class with one job, :meth:`Source.sync`: make the knowledge base's documents from this source
match the source now. Most sources are lists of records (rows, items): they subclass :class:`RecordSource` and
implement :meth:`RecordSource.records`; the knowledge base then adds new records, re-ingests those whose content
hash changed, skips the rest and removes what the source no longer has (``KnowledgeBase.sync_records``). A fetch
that fails raises :class:`SourceError` before anything is written, so a source that is down never empties the
knowledge base.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ValidationError

from ....errors import AutoGLMError, ConfigError
from ....registry import Registry
from ..config import SourceConfig
from ..ingest import IngestReport, Record

if TYPE_CHECKING:
    from ..base import KnowledgeBase


class SourceError(AutoGLMError):
    """A source could not be read (a database error, an API down or answering nonsense); nothing was changed."""

    http_status = 502
    error_type = "source_unavailable"


class Source(ABC):
    """One configured source. ``Options`` is the pydantic model of the keys its ``knowledge.sources`` entry takes
    besides ``kind`` and ``name``."""

    kind: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]]

    def __init__(self, name: str, options: Any, settings: Any = None) -> None:
        self.name = name
        self.options = options
        self.settings = settings

    @classmethod
    def from_config(cls, config: SourceConfig, settings: Any = None) -> Source:
        try:
            options = cls.Options.model_validate(config.model_extra or {})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"knowledge.sources '{config.name}' ({config.kind}): {problems}") from None
        return cls(config.name, options, settings)

    @abstractmethod
    async def sync(self, kb: KnowledgeBase) -> IngestReport:
        """Bring this source's documents in ``kb`` up to date: new, changed and deleted ones."""


class RecordSource(Source):
    """A source that lists its documents as :class:`Record` s, each keyed under ``<kind>:<name>:``."""

    @abstractmethod
    async def records(self) -> list[Record]:
        """Every record the source has now; raise :class:`SourceError` when it cannot be read whole."""

    @property
    def prefix(self) -> str:
        return f"{self.kind}:{self.name}:"

    def key(self, ident: str) -> str:
        return f"{self.prefix}{ident}"

    def owns(self, source: str) -> bool:
        return source.startswith(self.prefix)

    async def sync(self, kb: KnowledgeBase) -> IngestReport:
        records = await self.records()
        return await asyncio.to_thread(kb.sync_records, records, self.owns)


# ``knowledge.sources[].kind`` -> source class; a package adds one with an entry point in this group.
knowledge_sources: Registry[Source] = Registry(
    "openautoglm.knowledge_sources", "knowledge source", Source,
    builtins=("openautoglm.memory.kb.sources.sql", "openautoglm.memory.kb.sources.http",
              "openautoglm.memory.kb.sources.folder"))


def make_sources(configs: list[SourceConfig], settings: Any = None) -> list[Source]:
    """The configured sources, each checked; names must be unique (they key the documents)."""
    seen: set[str] = set()
    out: list[Source] = []
    for config in configs:
        if config.name in seen:
            raise ConfigError(f"knowledge.sources: two sources are named '{config.name}'; names must be unique")
        seen.add(config.name)
        out.append(knowledge_sources.get(config.kind).from_config(config, settings))
    return out


def field_lines(item: dict[str, Any], fields: list[str]) -> str:
    """``field: value`` lines for the given fields that have a value (as table rows are written in chunks)."""
    lines = []
    for f in fields:
        value = item.get(f)
        if value is None or value == "":
            continue
        text = " ".join(str(value).split())
        lines.append(f"{f}: {text}")
    return "\n".join(lines)
