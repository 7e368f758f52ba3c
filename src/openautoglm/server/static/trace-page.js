// The page `autoglm trace ID --html FILE` writes (cli/trace_page.py): the console's plan graph and timeline
// (plan-view.js) over the trace inlined in the page as JSON.
"use strict";

(() => {
  const trace = JSON.parse(document.getElementById("trace-data").textContent);
  const events = trace.events || [];
  const started = events.find((ev) => ev.kind === "task.started");
  const ended = [...events].reverse().find((ev) => ev.kind === "task.finished" || ev.kind === "task.failed");
  const status = ended ? (ended.kind === "task.failed" ? "failed" : ended.data?.status || "succeeded") : "unfinished";
  const badge = document.getElementById("trace-state");
  badge.textContent = status;
  badge.className = `status ${status}`;
  const request = document.getElementById("trace-request");
  if (started?.data?.request) {
    request.textContent = started.data.request;
    request.hidden = false;
  }
  const view = AutoGLMPlan.create(document.getElementById("trace-plan"));
  view.load(events);
  const first = events.find((ev) => ev.kind === "step.failed") || events.find((ev) => ev.step_id);
  if (first) view.select(first.step_id);
})();
