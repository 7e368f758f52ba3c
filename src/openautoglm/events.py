"""The records of the audit trail. Pure: no I/O, and nothing of the project imported.

Every stage of a task appends events to one append-only log keyed by task id. The log is the trail a person
reads (``autoglm trace``), the source of a task's state, and the feed of live progress.

Each kind has a payload class listing its fields (frozen dataclasses below, registered with ``@payload``).
``EventEmitter.emit(kind, **fields)`` refuses a kind without one and fields it does not list or leaves out: a
mistake in the code that emits, caught where it is made. What is stored (and sent, and printed) is still the plain
``Event.data`` dict; ``Event.payload`` reads it back as the typed payload.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, TypeVar


class EventKind(StrEnum):
    TASK_STARTED = "task.started"
    TASK_FINISHED = "task.finished"
    TASK_FAILED = "task.failed"
    INTENT = "intent"
    CLARIFICATION = "clarification"
    PLAN_MADE = "plan.made"
    PLAN_INVALID = "plan.invalid"
    PLAN_REPAIRED = "plan.repaired"
    PLAN_FALLBACK = "plan.fallback"
    REPLAN = "replan"
    STEP_STARTED = "step.started"
    STEP_FINISHED = "step.finished"
    STEP_FAILED = "step.failed"
    STEP_RETRY = "step.retry"
    STEP_SKIPPED = "step.skipped"
    STEP_SIMULATED = "step.simulated"  # a dry run: a tool with side effects not called, its output made up
    STEP_WORKER = "step.worker"  # where an attempt of a step ran, when not in the task's own process (Ray)
    IDEMPOTENCY = "idempotency"  # a step's key recorded, reused from an earlier run, or left unknown by a crash
    COMPENSATION = "compensation"  # a saga: a finished step undone because a later one failed
    TOOL_CALL = "tool.call"
    TOOL_RESULT = "tool.result"
    TOOL_DENIED = "tool.denied"
    APPROVAL = "approval"
    MODEL_PROMPT = "model.prompt"
    MODEL_COMPLETION = "model.completion"
    MODEL_ATTEMPT = "model.attempt"
    FALLBACK = "fallback"
    CACHE_HIT = "cache.hit"
    COMPOSED = "composed"
    COMPOSE_REJECTED = "compose.rejected"
    ANSWER = "answer"
    ERROR = "error"
    BUDGET_CUT = "budget.cut"  # work left undone to bound a request's time: a model fill skipped or stopped
    SESSION_COMPACTED = "session.compacted"
    SESSION_SUMMARY_FALLBACK = "session.summary_fallback"
    # Routing policies (policies/): kept in the store's policy log, not a task's.
    POLICY_CREATED = "policy.created"
    POLICY_ACTIVATED = "policy.activated"
    POLICY_PINNED = "policy.pinned"
    POLICY_UNPINNED = "policy.unpinned"
    POLICY_PROPOSED = "policy.proposed"
    POLICY_CANARY = "policy.canary"
    POLICY_PROMOTED = "policy.promoted"
    POLICY_ROLLED_BACK = "policy.rolled_back"
    REPORT_STARTED = "report.started"  # a scheduled report run (reports/schedules.py)
    REPORT_FINISHED = "report.finished"
    REPORT_FAILED = "report.failed"
    REPORT_DELIVERED = "report.delivered"  # one delivery: a mail (the report, or the alert of a failure) or webhook


class EventSchemaError(TypeError):
    """An event of an unknown kind, or with fields its kind does not list or leaves out: a bug where it is emitted."""


@dataclass(frozen=True, slots=True)
class Payload:
    """The typed fields of one kind of event. A field whose ``metadata["key"]`` is set is stored under that key
    (``from`` is a keyword in Python, not in JSON)."""

    def to_data(self) -> dict[str, Any]:
        return {_key(f): getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class _Schema:
    cls: type[Payload]
    keys: frozenset[str]  # every field, by its stored name
    required: frozenset[str]  # the fields without a default
    names: dict[str, str]  # stored name -> attribute name


PAYLOADS: dict[str, _Schema] = {}
P = TypeVar("P", bound=type[Payload])
T = TypeVar("T", bound=Payload)


def payload(kind: str) -> Callable[[P], P]:
    """Register the payload class of ``kind``: ``@payload(EventKind.X)`` over a frozen, slotted dataclass."""

    def register(cls: P) -> P:
        if kind in PAYLOADS:
            raise EventSchemaError(f"event kind '{kind}' has a payload class already ({PAYLOADS[kind].cls.__name__})")
        fields = dataclasses.fields(cls)
        required = {_key(f) for f in fields
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        PAYLOADS[str(kind)] = _Schema(cls, frozenset(_key(f) for f in fields), frozenset(required),
                                      {_key(f): f.name for f in fields})
        return cls

    return register


def _key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def _schema(kind: str) -> _Schema:
    try:
        return PAYLOADS[kind]
    except KeyError:
        raise EventSchemaError(f"unknown event kind '{kind}': add it to EventKind and register its payload class "
                               "with @payload (openautoglm/events.py)") from None


def check(kind: str, data: dict[str, Any]) -> None:
    """Raise :class:`EventSchemaError` unless ``data`` has exactly the fields ``kind``'s payload allows."""
    schema = _schema(kind)
    unknown = data.keys() - schema.keys
    missing = schema.required - data.keys()
    if unknown or missing:
        problems = ([f"unknown field(s) {', '.join(sorted(unknown))}"] if unknown else []) + (
            [f"missing field(s) {', '.join(sorted(missing))}"] if missing else [])
        raise EventSchemaError(f"event '{kind}' ({schema.cls.__name__}): {'; '.join(problems)}; "
                               f"it takes {', '.join(sorted(schema.keys))}")


def parse_payload(kind: str, data: dict[str, Any]) -> Payload:
    """The typed payload of stored data. Fields an older version wrote and this one no longer lists are left out
    (old databases keep working); a missing required field is an error."""
    schema = _schema(kind)
    missing = schema.required - data.keys()
    if missing:
        raise EventSchemaError(f"event '{kind}' lacks field(s) {', '.join(sorted(missing))}")
    return schema.cls(**{schema.names[k]: v for k, v in data.items() if k in schema.keys})


# -- the payloads, by kind ----------------------------------------------------------------------------------------
# Fields with a default are the ones some emit sites leave out (a resumed task.started has no request, say).


@payload(EventKind.TASK_STARTED)
@dataclass(frozen=True, slots=True)
class TaskStarted(Payload):
    request: str | None = None
    session_id: str | None = None
    inputs: dict[str, Any] | None = None  # a given plan's inputs
    resumed: bool | None = None
    steps_done: list[str] | None = None  # when resumed: the steps finished before
    instructions: str | None = None  # a chat's system prompt
    language: str | None = None  # the reply language asked for


@payload(EventKind.TASK_FINISHED)
@dataclass(frozen=True, slots=True)
class TaskFinished(Payload):
    status: str


@payload(EventKind.TASK_FAILED)
@dataclass(frozen=True, slots=True)
class TaskFailed(Payload):
    error: str
    error_type: str


@payload(EventKind.INTENT)
@dataclass(frozen=True, slots=True)
class IntentRead(Payload):
    request: str | None = None
    now: str | None = None
    parts: list[dict[str, Any]] | None = None
    follow_up: bool | None = None  # the plan of the session's last turn, reused with changes
    reused_plan_of: str | None = None
    changes: Any = None
    carried: list[dict[str, Any]] | None = None  # earlier turns' data a follow-up reads again (recall steps)
    # A part no tool fits, and how well the knowledge base's best passage matches it (None: no knowledge base).
    part: str | None = None
    knowledge_relevance: float | None = None


@payload(EventKind.CLARIFICATION)
@dataclass(frozen=True, slots=True)
class Clarification(Payload):
    question: str | None = None  # asked
    missing: list[str] | None = None
    answered: str | None = None  # the answer to the last question, merged into ``request``
    request: str | None = None


@payload(EventKind.PLAN_MADE)
@dataclass(frozen=True, slots=True)
class PlanMade(Payload):
    plan: dict[str, Any]
    planner: str


@payload(EventKind.PLAN_INVALID)
@dataclass(frozen=True, slots=True)
class PlanInvalid(Payload):
    planner: str
    problems: list[str]
    attempt: int | None = None
    output: str | None = None
    follow_up: bool | None = None
    plan: dict[str, Any] | None = None


@payload(EventKind.PLAN_REPAIRED)
@dataclass(frozen=True, slots=True)
class PlanRepaired(Payload):
    planner: str
    attempt: int
    plan: dict[str, Any]


@payload(EventKind.PLAN_FALLBACK)
@dataclass(frozen=True, slots=True)
class PlanFallback(Payload):
    planner: str
    reason: str
    to: str | None = None
    problems: list[str] | None = None


@payload(EventKind.REPLAN)
@dataclass(frozen=True, slots=True)
class Replan(Payload):
    accepted: bool
    failed: list[str]
    replaced: dict[str, str]  # step id -> the tool standing in
    problems: list[str] | None = None  # why the new plan was refused
    plan: dict[str, Any] | None = None  # the accepted plan


@payload(EventKind.STEP_STARTED)
@dataclass(frozen=True, slots=True)
class StepStarted(Payload):
    uses: str
    args: Any
    timeout_s: float
    attempts_allowed: int


@payload(EventKind.STEP_FINISHED)
@dataclass(frozen=True, slots=True)
class StepFinished(Payload):
    uses: str
    attempts: int
    node: str | None
    duration_s: float
    output: Any


@payload(EventKind.STEP_FAILED)
@dataclass(frozen=True, slots=True)
class StepFailed(Payload):
    uses: str
    error: str
    error_type: str
    attempts: int


@payload(EventKind.STEP_RETRY)
@dataclass(frozen=True, slots=True)
class StepRetry(Payload):
    attempt: int
    delay_s: float
    error: str
    error_type: str


@payload(EventKind.STEP_SKIPPED)
@dataclass(frozen=True, slots=True)
class StepSkipped(Payload):
    uses: str
    reason: str


@payload(EventKind.STEP_SIMULATED)
@dataclass(frozen=True, slots=True)
class StepSimulated(Payload):
    uses: str
    args: Any  # what would have been sent
    output: Any  # what the run went on with
    source: str  # "schema" (made from the tool's output schema) or "recorded" (an earlier run's output)


@payload(EventKind.STEP_WORKER)
@dataclass(frozen=True, slots=True)
class StepWorker(Payload):
    executor: str  # "ray"
    attempt: int
    status: str  # "ran" (the attempt came back, with its output or its error), "lost" (its worker died), "local"
    node: str | None = None  # the cluster node that ran it (Ray's node id)
    pid: int | None = None  # the worker process
    error: str | None = None  # lost: what the cluster said
    reason: str | None = None  # local: why this step ran in the task's own process


@payload(EventKind.IDEMPOTENCY)
@dataclass(frozen=True, slots=True)
class Idempotency(Payload):
    key: str
    uses: str
    # recorded | reused | in_progress | released | reconciled_done | reconciled_not_done | outcome_unknown (started
    # by this task before a crash, no outcome, the tool cannot reconcile: a person is asked) | rerun_approved |
    # rerun_denied
    status: str
    first_task: str | None = None  # the task that did the work, when reused
    output: Any = None


@payload(EventKind.COMPENSATION)
@dataclass(frozen=True, slots=True)
class CompensationRan(Payload):
    uses: str  # the compensating tool
    status: str  # started | succeeded | failed
    because: list[str] | None = None  # the failed steps that set the saga off
    args: Any = None
    output: Any = None
    error: str | None = None


@payload(EventKind.TOOL_CALL)
@dataclass(frozen=True, slots=True)
class ToolCall(Payload):
    tool: str | None = None
    method: str | None = None  # HTTP tools
    url: str | None = None
    query: dict[str, Any] | None = None
    server: str | None = None  # MCP tools
    remote_tool: str | None = None
    workflow: str | None = None  # workflow tools
    inputs: dict[str, Any] | None = None
    steps: list[str] | None = None


@payload(EventKind.TOOL_RESULT)
@dataclass(frozen=True, slots=True)
class ToolResult(Payload):
    tool: str
    status: int | None = None  # HTTP tools
    bytes: int | None = None
    redirects: Any = None
    geocoded: str | None = None  # weather: the place a city name was found at
    place: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    dropped_content: Any = None  # MCP: content kinds a result had that are not kept


@payload(EventKind.TOOL_DENIED)
@dataclass(frozen=True, slots=True)
class ToolDenied(Payload):
    tool: str | None
    reason: str
    url: str | None = None


@payload(EventKind.APPROVAL)
@dataclass(frozen=True, slots=True)
class Approval(Payload):
    tool: str
    approved: bool | None = None  # the outcome (the executor's and the broker's decisions)
    approver: str | None = None  # "configured" or "none" (the executor)
    status: str | None = None  # the broker: pending, escalated, approved, denied, expired, cancelled
    request_id: str | None = None
    timeout_s: float | None = None
    by: str | None = None
    reason: str | None = None
    asks: str | None = None  # the broker's question when it is not "call": "rerun" (an outcome unknown after a crash)


@payload(EventKind.MODEL_PROMPT)
@dataclass(frozen=True, slots=True)
class ModelPrompt(Payload):
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None
    json_schema: bool


@payload(EventKind.MODEL_COMPLETION)
@dataclass(frozen=True, slots=True)
class ModelCompletion(Payload):
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str | None = None
    node: str | None = None
    finish_reason: str | None = None
    stage: str | None = None  # a planner's own model call (argument fill)
    tool: str | None = None


@payload(EventKind.MODEL_ATTEMPT)
@dataclass(frozen=True, slots=True)
class ModelAttempt(Payload):
    node: str
    target: str
    attempt: int
    outcome: str  # ok | error
    latency_ms: float
    error: str | None = None
    error_type: str | None = None
    retryable: bool | None = None
    chunks: int | None = None  # streamed calls
    stream: bool | None = None
    policy: int | None = None  # the routing policy version that chose the node (policies/), None: as configured


@payload(EventKind.FALLBACK)
@dataclass(frozen=True, slots=True)
class Fallback(Payload):
    from_: str = field(metadata={"key": "from"})
    to: str
    reason: str


@payload(EventKind.CACHE_HIT)
@dataclass(frozen=True, slots=True)
class CacheHit(Payload):
    node: str | None
    cache: str
    key: str
    stream: bool | None = None


@payload(EventKind.ANSWER)
@dataclass(frozen=True, slots=True)
class Answer(Payload):
    answer: str
    status: str
    confidence: float | None = None  # compose/confidence.py
    writer: str | None = None  # "deterministic" | "model"


@payload(EventKind.COMPOSED)
@dataclass(frozen=True, slots=True)
class ComposedReply(Payload):
    """How the reply was written: by which writer, in which language, and what each part came to."""

    writer: str
    status: str
    confidence: float
    language: str
    parts: list[dict[str, Any]]


@payload(EventKind.COMPOSE_REJECTED)
@dataclass(frozen=True, slots=True)
class ComposeRejected(Payload):
    """A model's reply that failed its checks (an invented figure, a loop...): the plain reply was used instead."""

    writer: str
    problems: list[str]
    reply: str


@payload(EventKind.ERROR)
@dataclass(frozen=True, slots=True)
class StageError(Payload):
    error: str
    stage: str | None = None
    tool: str | None = None


@payload(EventKind.BUDGET_CUT)
@dataclass(frozen=True, slots=True)
class BudgetCut(Payload):
    """Work left undone to bound a request's time (planning/budget.py)."""

    stage: str
    reason: str
    tool: str | None = None
    missing: list[str] | None = None  # the arguments that stay unfilled
    max_tokens: int | None = None


@payload(EventKind.SESSION_COMPACTED)
@dataclass(frozen=True, slots=True)
class SessionCompacted(Payload):
    session_id: str
    summarizer: str  # model | truncate


@payload(EventKind.SESSION_SUMMARY_FALLBACK)
@dataclass(frozen=True, slots=True)
class SessionSummaryFallback(Payload):
    error: str
    summarizer: str


@payload(EventKind.POLICY_CREATED)
@dataclass(frozen=True, slots=True)
class PolicyCreated(Payload):
    origin: str  # operator | loop
    parent: int | None = None


@payload(EventKind.POLICY_ACTIVATED)
@dataclass(frozen=True, slots=True)
class PolicyActivated(Payload):
    previous: int | None
    pinned: bool


@payload(EventKind.POLICY_PINNED)
@dataclass(frozen=True, slots=True)
class PolicyPinned(Payload):
    previous: int | None


@payload(EventKind.POLICY_UNPINNED)
@dataclass(frozen=True, slots=True)
class PolicyUnpinned(Payload):
    previous: int | None = None


@payload(EventKind.POLICY_PROPOSED)
@dataclass(frozen=True, slots=True)
class PolicyProposed(Payload):
    """The loop made a policy from the signals: what it changes and the figures it read."""

    against: int | None  # the active version it was compared with
    changes: list[str]
    figures: dict[str, Any]


@payload(EventKind.POLICY_CANARY)
@dataclass(frozen=True, slots=True)
class PolicyCanary(Payload):
    against: int | None
    share: float  # of calls routed by the canary
    window: int  # canary calls before a decision at the latest


@payload(EventKind.POLICY_PROMOTED)
@dataclass(frozen=True, slots=True)
class PolicyPromoted(Payload):
    previous: int | None
    test: dict[str, Any]  # the comparison's figures (policies/stats.py)


@payload(EventKind.POLICY_ROLLED_BACK)
@dataclass(frozen=True, slots=True)
class PolicyRolledBack(Payload):
    """A version taken back: a canary stopped, or the active one replaced by ``to``."""

    to: int | None
    test: dict[str, Any] | None = None  # the figures that decided it (None: an operator's rollback)
    canary: bool = False


@payload(EventKind.REPORT_STARTED)
@dataclass(frozen=True, slots=True)
class ReportStarted(Payload):
    report: str
    schedule_id: str
    slot: float
    holder: str


@payload(EventKind.REPORT_FINISHED)
@dataclass(frozen=True, slots=True)
class ReportFinished(Payload):
    report: str
    html: str
    pdf: str
    key_figures: list[dict[str, Any]]
    seconds: float


@payload(EventKind.REPORT_FAILED)
@dataclass(frozen=True, slots=True)
class ReportFailed(Payload):
    report: str
    error: str
    error_type: str


@payload(EventKind.REPORT_DELIVERED)
@dataclass(frozen=True, slots=True)
class ReportDelivered(Payload):
    channel: str  # email | webhook
    purpose: str  # report | alert
    to: list[str]
    ok: bool
    error: str | None = None


# -- events -------------------------------------------------------------------------------------------------------



@dataclass(frozen=True, slots=True)
class Event:
    task_id: str
    seq: int
    kind: str
    ts: float
    step_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def payload(self) -> Payload:
        """``data`` as its kind's typed payload; :class:`EventSchemaError` for a kind without one."""
        return parse_payload(self.kind, self.data)

    def payload_as(self, cls: type[T]) -> T | None:
        """The payload if this event is of the kind ``cls`` describes, else None: ``e.payload_as(StepFinished)``."""
        schema = PAYLOADS.get(self.kind)
        if schema is None or schema.cls is not cls:
            return None
        payload = self.payload
        assert isinstance(payload, cls)
        return payload


EventSink = Callable[[Event], None]


class EventEmitter:
    """Numbers and timestamps the events of one task and hands them to a sink (the store, a live view...)."""

    __slots__ = ("_clock", "_seq", "_sinks", "task_id")

    def __init__(self, task_id: str, sinks: list[EventSink], clock: Callable[[], float] = time.time, seq: int = 0):
        self.task_id = task_id
        self._sinks = sinks
        self._clock = clock
        self._seq = seq

    def emit(self, kind: str, step_id: str | None = None, **data: Any) -> Event:
        """Record one event; raises :class:`EventSchemaError` (and records nothing) if ``data`` does not fit
        ``kind``'s payload class."""
        check(str(kind), data)
        self._seq += 1
        event = Event(self.task_id, self._seq, str(kind), self._clock(), step_id, data)
        for sink in self._sinks:
            sink(event)
        return event

    def add_sink(self, sink: EventSink) -> None:
        self._sinks.append(sink)


def step_outputs(events: Iterable[Event]) -> dict[str, Any]:
    """What each step of a task returned, by step id, as recorded (a step run again after a replan or a resume
    keeps its last output)."""
    return {e.step_id: p.output for e in events if e.step_id and (p := e.payload_as(StepFinished)) is not None}
