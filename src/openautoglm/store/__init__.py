"""Persistence of the event log, tasks and the rest: SQLite by default, PostgreSQL at scale."""

from .sql import Store, TaskRecord, sqlite_url

__all__ = ["Store", "TaskRecord", "sqlite_url"]
