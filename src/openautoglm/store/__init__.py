"""Persistence of the event log, tasks and the rest: SQLite by default, PostgreSQL at scale."""

from .sql import FeedbackRecord, KeyRecord, NodeRecord, Store, TaskRecord, sqlite_url

__all__ = ["FeedbackRecord", "KeyRecord", "NodeRecord", "Store", "TaskRecord", "sqlite_url"]
