"""Prometheus metrics, on a registry of the app's own (two gateways in one process never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("autoglm_http_requests", "HTTP requests served",
                                ["method", "route", "status"], registry=r)
        self.request_latency = Histogram("autoglm_http_request_duration_seconds",
                                         "time to the end of the response", ["route"],
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.step_latency = Histogram("autoglm_step_duration_seconds", "time a plan step ran",
                                      ["tool", "status"], buckets=_LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("autoglm_tokens", "model tokens", ["kind", "model"], registry=r)
        self.errors = Counter("autoglm_errors", "errors by type (HTTP errors and failed steps)", ["type"],
                              registry=r)
        self.tasks = Counter("autoglm_tasks", "finished tasks", ["type", "status"], registry=r)
        self.node_up = Gauge("autoglm_node_up", "1 when a model node is usable", ["node"], registry=r)
        self.queue_depth = Gauge("autoglm_task_queue_depth", "tasks waiting for a slot to run", registry=r)
        self.tasks_running = Gauge("autoglm_tasks_running", "tasks running now", registry=r)
        self.in_flight = Gauge("autoglm_http_requests_in_flight", "requests being served", registry=r)
        self.rate_limited = Counter("autoglm_rate_limited", "requests refused by the rate limit", registry=r)
        self.support_messages = Counter("autoglm_support_messages", "customer messages by route", ["route"],
                                        registry=r)
        self.support_decisions = Counter("autoglm_support_decisions", "agents' decisions on support tickets",
                                         ["action"], registry=r)
        self.support_rate = Gauge("autoglm_support_rate", "over every message in the store: auto_reply and "
                                  "handoff shares of routes; agent_edit: edited among suggestions sent", ["kind"],
                                  registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
