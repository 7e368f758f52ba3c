"""Traces and metrics of tasks, fed by the event log: a task is a span, each step a child span.

The gateway subscribes a :class:`TaskObserver` to every task it runs. Spans carry ``task.id`` and ``task.type``;
they go to the tracer provider of the app (never the global one), which exports over OTLP/HTTP when
``gateway.otlp_endpoint`` is set, or to whatever exporter the caller passes (tests use an in-memory one).
"""

from __future__ import annotations

import secrets
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, Status, StatusCode, TraceFlags

from ..events import Event, EventKind
from .metrics import Metrics


def make_tracer_provider(otlp_endpoint: str | None, exporter: SpanExporter | None = None) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "openautoglm-gateway"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


def _parent(trace_id: str | None) -> Context | None:
    """A remote parent carrying ``trace_id`` (32 hex digits), or None for a new trace."""
    if not trace_id or len(trace_id) != 32:
        return None
    try:
        tid = int(trace_id, 16)
    except ValueError:
        return None
    if tid == 0:
        return None
    parent = SpanContext(trace_id=tid, span_id=secrets.randbits(64) or 1, is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(parent))


def _ns(ts: float) -> int:
    return int(ts * 1e9)


class TaskObserver:
    """An event sink for one task: opens and closes spans, counts steps and tokens."""

    def __init__(self, tracer: trace.Tracer, metrics: Metrics, task_id: str, task_type: str,
                 parent_trace_id: str | None = None) -> None:
        self.metrics = metrics
        self.task_id = task_id
        self.task_type = task_type
        self.tracer = tracer
        self.span = tracer.start_span("task", context=_parent(parent_trace_id),
                                      attributes={"task.id": task_id, "task.type": task_type})
        self._context = trace.set_span_in_context(self.span)
        self._steps: dict[str, Span] = {}
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.status: str | None = None

    @property
    def trace_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    def __call__(self, ev: Event) -> None:
        kind = ev.kind
        if kind == EventKind.STEP_STARTED and ev.step_id:
            self._steps[ev.step_id] = self.tracer.start_span(
                f"step {ev.step_id}", context=self._context, start_time=_ns(ev.ts),
                attributes={"task.id": self.task_id, "task.type": self.task_type, "step.id": ev.step_id,
                            "step.uses": str(ev.data.get("uses", ""))})
        elif kind in (EventKind.STEP_FINISHED, EventKind.STEP_FAILED) and ev.step_id:
            ok = kind == EventKind.STEP_FINISHED
            tool = str(ev.data.get("uses", ""))
            span = self._steps.pop(ev.step_id, None)
            if span is not None:
                if not ok:
                    span.set_status(Status(StatusCode.ERROR, str(ev.data.get("error", ""))[:200]))
                if ev.data.get("node"):
                    span.set_attribute("step.node", str(ev.data["node"]))
                span.set_attribute("step.attempts", int(ev.data.get("attempts") or 0))
                duration = ev.data.get("duration_s")
                if ok and isinstance(duration, int | float):
                    self.metrics.step_latency.labels(tool, "succeeded").observe(duration)
                span.end(end_time=_ns(ev.ts))
            if not ok:
                self.metrics.errors.labels(str(ev.data.get("error_type") or "step_failed")).inc()
        elif kind == EventKind.MODEL_COMPLETION:
            model = str(ev.data.get("node") or ev.data.get("model") or "model")
            prompt, completion = int(ev.data.get("prompt_tokens") or 0), int(ev.data.get("completion_tokens") or 0)
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.metrics.tokens.labels("prompt", model).inc(prompt)
            self.metrics.tokens.labels("completion", model).inc(completion)
        elif kind in (EventKind.TASK_FINISHED, EventKind.TASK_FAILED, EventKind.CLARIFICATION):
            self.status = str(ev.data.get("status") or ("failed" if kind == EventKind.TASK_FAILED else "needs_input"))

    def close(self, status: str | None = None, error: BaseException | None = None) -> None:
        """End every open span; called once when the task is over, however it ended."""
        status = status or self.status or ("failed" if error else "unknown")
        for span in self._steps.values():
            span.set_status(Status(StatusCode.ERROR, "task ended before the step"))
            span.end()
        self._steps.clear()
        self.span.set_attribute("task.status", status)
        if error is not None or status == "failed":
            self.span.set_status(Status(StatusCode.ERROR, str(error or status)[:200]))
        self.span.end()
        self.metrics.tasks.labels(self.task_type, status).inc()

    def usage(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}
