"""Where the knowledge base's documents come from besides ``kb add``: SQL queries, JSON APIs, folders.

Each kind is one :class:`Source` subclass registered in :data:`knowledge_sources` (``knowledge.sources[].kind``);
``autoglm kb sync`` (and the gateway, every ``knowledge.sync_interval_s``) brings each source up to date through
:func:`sync_sources`.
"""

from .base import RecordSource, Source, SourceError, knowledge_sources, make_sources
from .sync import SyncSchedule, sync_sources

__all__ = ["RecordSource", "Source", "SourceError", "SyncSchedule", "knowledge_sources", "make_sources",
           "sync_sources"]
