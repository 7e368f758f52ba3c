"""Telemetry: Prometheus metrics, spans per task and step (in memory and over OTLP), logs with trace and task ids."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from structlog.testing import capture_logs

from gateway_support import bearer, database, gateway, make_glm, new_key
from openautoglm.models.scripted import ScriptedModel


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_spans_and_logs_follow_a_task(db_url: str) -> None:
    exporter = InMemorySpanExporter()
    glm = make_glm(db_url, ScriptedModel(["a friendly greeting for the team"]))
    with capture_logs() as logs, gateway(glm, span_exporter=exporter) as server, \
            httpx.Client(base_url=server.url, timeout=20) as http:
        user, operator = bearer(new_key(glm, "user")), bearer(new_key(glm, "operator"))
        traceparent = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
        response = http.post("/v1/chat/completions", headers={**user, "traceparent": traceparent},
                             json={"model": "autoglm", "messages": [{"role": "user", "content": "greet the team"}]})
        assert response.status_code == 200
        task_id = response.json()["autoglm"]["task_id"]
        assert response.headers["x-trace-id"] == "ab" * 16
        http.get("/v1/tasks/does-not-exist", headers=user)
        metrics = http.get("/metrics", headers=operator)
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text

    assert _sample(text, "autoglm_http_requests_total", route="/v1/chat/completions", status="200") == 1
    assert _sample(text, "autoglm_http_request_duration_seconds_count", route="/v1/chat/completions") == 1
    assert _sample(text, "autoglm_step_duration_seconds_count", tool="llm.generate") >= 1
    assert _sample(text, "autoglm_tokens_total", kind="completion") > 0
    assert _sample(text, "autoglm_errors_total", type="not_found") == 1
    assert _sample(text, "autoglm_tasks_total", type="chat", status="succeeded") == 1
    assert _sample(text, "autoglm_node_up", node="scripted") == 1
    assert "autoglm_task_queue_depth 0.0" in text

    spans = exporter.get_finished_spans()
    task_span = next(s for s in spans if s.name == "task")
    assert task_span.attributes is not None
    assert task_span.attributes["task.id"] == task_id and task_span.attributes["task.type"] == "chat"
    assert format(task_span.context.trace_id, "032x") == "ab" * 16  # joined the caller's trace
    steps = [s for s in spans if s.name.startswith("step ")]
    assert steps and all(s.parent is not None and s.parent.span_id == task_span.context.span_id for s in steps)
    assert all(s.attributes is not None and s.attributes["task.id"] == task_id for s in steps)

    finished = [e for e in logs if e["event"] == "task_finished"]
    assert finished and finished[0]["task_id"] == task_id and finished[0]["trace_id"] == "ab" * 16
    assert any(e["event"] == "request" and e["trace_id"] == "ab" * 16 and e["status"] == 200 for e in logs)


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, self.headers.get("Content-Type") or "", body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_spans_are_exported_over_otlp_http(tmp_path: Path) -> None:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    collector = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    try:
        with database("sqlite", tmp_path) as url:
            glm = make_glm(url, otlp_endpoint=f"http://127.0.0.1:{collector.server_port}")
            with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
                done = http.post("/v1/chat/completions", headers=bearer(new_key(glm, "user")),
                                 json={"model": "autoglm", "messages": [{"role": "user", "content": "greet the team"}]})
                task_id = done.json()["autoglm"]["task_id"]
            # Shutting the gateway down flushes the batch of spans.
    finally:
        collector.shutdown()
        collector.server_close()
    assert received, "no OTLP export arrived"
    path, content_type, body = received[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    assert b"task.id" in body and task_id.encode() in body
