"""Tables. Every room that persists something declares its tables here, on one MetaData."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("request", Text, nullable=True),
    Column("status", String(32), nullable=False),
    Column("owner", String(128), nullable=True),
    Column("session_id", String(128), nullable=True),
    Column("plan", JSON, nullable=True),
    Column("answer", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_tasks_owner_created", "owner", "created_at"),
    Index("ix_tasks_session", "session_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("step_id", String(64), nullable=True),
    Column("data", JSON, nullable=False),
    UniqueConstraint("task_id", "seq", name="uq_events_task_seq"),
)
