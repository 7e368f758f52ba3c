"""Tables. Every room that persists something declares its tables here, on one MetaData."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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
    Column("role", String(16), nullable=True),  # the caller's role, which a resumed task runs with
    Column("answer", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # How sure the answer is, 0-1 (compose/confidence.py); added by revision 0005.
    Column("confidence", Float, nullable=True),
    # What a queued task needs to run in any process (its kind, request or plan, inputs, a chat's history).
    Column("spec", JSON, nullable=True),
    # The lease of the process running the task: who holds it and until when; renewed by a heartbeat.
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    Index("ix_tasks_owner_created", "owner", "created_at"),
    Index("ix_tasks_session", "session_id"),
    Index("ix_tasks_claim", "status", "lease_expires_at"),
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

# -- the gateway (server/): credentials, revoked tokens, feedback, registered nodes -------------------------------

api_keys = Table(
    "api_keys",
    metadata,
    # The public part of a key ("agk_<id>_<secret>"): what a request is looked up by.
    Column("id", String(32), primary_key=True),
    # SHA-256 of the whole key; the key itself is shown once and never stored.
    Column("key_hash", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("name", String(128), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(128), primary_key=True),
    Column("revoked_at", Float, nullable=False),
    # After the token's own expiry the row is no longer needed.
    Column("expires_at", Float, nullable=True),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", String(64), nullable=False),
    Column("owner", String(128), nullable=True),
    Column("rating", Integer, nullable=False),
    Column("comment", Text, nullable=True),
    Column("node", String(128), nullable=True),
    Column("created_at", Float, nullable=False),
    # The routing policy version that chose the node of the answer rated (policies/), None: as configured.
    Column("policy_version", Integer, nullable=True),
    Index("ix_feedback_task", "task_id"),
)

# -- routing policies (policies/): versions, the active one, and what happened to them ----------------------------

policies = Table(
    "policies",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("body", JSON, nullable=False),
    Column("author", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("origin", String(16), nullable=False),  # operator | loop
    Column("parent", Integer, nullable=True),  # the version it was made from
    Column("created_at", Float, nullable=False),
)

# One row (id 1): what every gateway replica applies; ``serial`` counts changes, so a replica polling it sees a
# rollback to a version it applied before as a change too.
policy_state = Table(
    "policy_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("active", Integer, nullable=True),
    Column("previous", Integer, nullable=True),
    Column("pinned", Boolean, nullable=False, default=False),
    Column("serial", Integer, nullable=False, default=0),
    Column("changed_at", Float, nullable=False),
)

policy_log = Table(
    "policy_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # an events.py kind: policy.activated, policy.canary...
    Column("version", Integer, nullable=True),
    Column("author", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("data", JSON, nullable=False),
    Column("at", Float, nullable=False),
)

registered_nodes = Table(
    "nodes",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("base_url", String(512), nullable=False),
    Column("model", String(256), nullable=True),
    Column("capabilities", JSON, nullable=False),
    Column("weight", Float, nullable=False, default=1.0),
    Column("state", String(32), nullable=False),
    Column("registered_at", Float, nullable=False),
    Column("last_heartbeat", Float, nullable=True),
    # The token the coordinator and the node share (store/sealing.py: sealed, never plaintext).
    Column("api_key", Text, nullable=True),
    # The rest of the registration, so every replica can serve the node (0015_replicas); wall-clock expiry.
    Column("expires_at", Float, nullable=True),
    Column("ttl_s", Float, nullable=True),
    Column("timeout_s", Float, nullable=True),
    Column("cost", Float, nullable=True),
    Column("context_window", Integer, nullable=True),
)

# -- memory (memory/sessions.py): conversations by session id -----------------------------------------------------

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("owner", String(128), nullable=True),
    # Turns up to and including ``summary_upto`` are folded into ``summary``; later ones are kept verbatim.
    Column("summary", Text, nullable=True),
    Column("summary_upto", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_sessions_owner_updated", "owner", "updated_at"),
)

session_turns = Table(
    "session_turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("task_id", String(64), nullable=True),
    Column("request", Text, nullable=False),
    Column("answer", Text, nullable=True),
    Column("status", String(32), nullable=False),
    Column("question", Text, nullable=True),
    Column("missing", JSON, nullable=True),
    Column("plan", JSON, nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("session_id", "seq", name="uq_session_turns_seq"),
)

# -- business workflows (engine.py, tools/approval.py): idempotency keys and approval requests ----------------------

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # A step's rendered key; claimed ("started") before its tool runs, "done" with the output after.
    Column("key", String(512), primary_key=True),
    Column("tool", String(128), nullable=False),
    Column("task_id", String(64), nullable=False),
    Column("step_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("output", JSON, nullable=True),  # sealed like other stored content when content is encrypted
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tool", String(128), nullable=False),
    Column("args", JSON, nullable=False),
    Column("task_id", String(64), nullable=False),
    Column("step_id", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    # pending -> escalated (nobody decided in time; now for escalate_to) -> approved | denied | expired | cancelled
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),  # null: waits until someone decides (approvals.timeout_s: null)
    Column("escalate_to", String(128), nullable=True),
    Column("escalated_at", Float, nullable=True),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", Float, nullable=True),
    Column("reason", Text, nullable=True),
    # What is asked: "call" (may this tool with side effects run?) or "rerun" (its call was started before a crash
    # and its outcome is unknown: may it run again?), and why, in words for the person deciding.
    Column("kind", String(16), nullable=False, server_default="call"),
    Column("why", Text, nullable=True),
    Index("ix_approvals_status", "status", "expires_at"),
)

# -- customer service (apps/support/): every routed message, and each agent's decision on it ----------------------

support_tickets = Table(
    "support_tickets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conversation_id", String(128), nullable=True),
    Column("owner", String(128), nullable=True),  # the customer's principal
    Column("route", String(16), nullable=False),  # auto_reply | suggest | handoff
    # sent (auto_reply) | open (waits for an agent) | answered (an agent's reply went out) | closed (rejected)
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("draft", Text, nullable=True),
    Column("reply", Text, nullable=True),  # what reached the customer last
    Column("confidence", Float, nullable=False),
    Column("sources", JSON, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # The model node that worded the draft (None: the draft is the evidence's own words), for the feedback loop.
    Column("drafter", String(128), nullable=True),
    Column("drafter_capability", String(64), nullable=True),
    Column("policy_version", Integer, nullable=True),  # the routing policy version that chose the drafter
    Index("ix_support_tickets_status", "status", "created_at"),
)

support_decisions = Table(
    "support_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # approve | edit | reject | reply
    Column("text", Text, nullable=True),
    Column("decided_by", String(128), nullable=False),
    Column("decided_at", Float, nullable=False),
    Index("ix_support_decisions_ticket", "ticket_id"),
)

# -- schedules (schedules.py): reports and workflows on a cron, and one row per schedule and cron slot ---------------
# (named report_schedules/report_slots because reports came first; workflows share them: one mechanism)

report_schedules = Table(
    "report_schedules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("report", String(1024), nullable=False),  # what runs: a report's name, a workflow's name or file
    Column("kind", String(16), nullable=False, server_default="report"),  # report | workflow
    Column("inputs", JSON, nullable=True),  # a workflow's inputs (besides the slot's time)
    Column("cron", String(128), nullable=False),
    Column("period", String(100), nullable=True),  # None: the report's own
    Column("emails", JSON, nullable=False),
    Column("webhook", String(2048), nullable=True),
    Column("owner", String(128), nullable=True),
    Column("created_at", Float, nullable=False),
)

# The claim of one slot of one schedule: its primary key lets exactly one replica insert it; a replica that died
# holding it (lease expired while running) is taken over. The row is also the run's record.
report_slots = Table(
    "report_slots",
    metadata,
    Column("schedule_id", String(32), primary_key=True),
    Column("slot", Float, primary_key=True),  # the cron time, epoch seconds
    Column("holder", String(128), nullable=False),
    Column("lease_expires_at", Float, nullable=False),
    Column("status", String(16), nullable=False),  # running | succeeded | failed
    Column("task_id", String(64), nullable=True),
    Column("result", JSON, nullable=True),  # paths, key figures, deliveries
    Column("error", Text, nullable=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Index("ix_report_slots_started", "started_at"),
)
