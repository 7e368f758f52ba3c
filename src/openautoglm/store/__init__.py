"""Persistence of the event log, tasks and the rest: SQLite by default, PostgreSQL at scale."""

from .policies import PolicyLogEntry, PolicyRecord, PolicyState
from .sql import FINISHED, TERMINAL, FeedbackRecord, KeyRecord, NodeRecord, Store, TaskRecord, sqlite_url

__all__ = ["FINISHED", "TERMINAL", "FeedbackRecord", "KeyRecord", "NodeRecord", "PolicyLogEntry", "PolicyRecord",
           "PolicyState", "Store", "TaskRecord", "sqlite_url"]
