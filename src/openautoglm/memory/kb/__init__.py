"""The knowledge base: ingest documents, retrieve by keyword and meaning, cite sources (see ``base.py``)."""

from .base import KnowledgeBase, SearchFilter, SearchHit, kb_path
from .config import KnowledgeConfig
from .ingest import FileError, IngestReport, Record
from .vectors import QdrantStore, SqliteVecStore, VectorStore

__all__ = [
    "FileError",
    "IngestReport",
    "KnowledgeBase",
    "KnowledgeConfig",
    "QdrantStore",
    "Record",
    "SearchFilter",
    "SearchHit",
    "SqliteVecStore",
    "VectorStore",
    "kb_path",
]
