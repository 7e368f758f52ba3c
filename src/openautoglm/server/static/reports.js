// The console's Reports tab: the report definitions (Run one now: operators), the schedules, the latest runs, and a
// run's HTML opened in a sandboxed iframe through a short-lived link (GET /v1/reports, POST /v1/reports/{name}/run,
// POST /v1/reports/view). A file of its own beside console.js; like it, every value is rendered with textContent.
"use strict";

(() => {
  const { $, call, row } = window.consoleTabKit;
  const showError = window.consoleTabKit.errorLine("reports-error");

  function button(text, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  async function open(ref) {
    try {
      const link = await call("/v1/reports/view", { ref });
      const frame = $("report-frame");
      frame.setAttribute("width", "100%");
      frame.setAttribute("height", "900");
      frame.src = link.url;
      frame.dataset.ref = ref;
      frame.hidden = false;
    } catch (err) {
      showError(err.message);
    }
  }

  async function runNow(name, b) {
    b.disabled = true;
    b.textContent = "Running…";
    try {
      const out = await call(`/v1/reports/${encodeURIComponent(name)}/run`, {});
      showError("");
      if (out.ref) await open(out.ref);
    } catch (err) {
      showError(err.message);
    }
    b.disabled = false;
    b.textContent = "Run now";
  }

  async function load() {
    try {
      const data = await call("/v1/reports");
      $("reports").replaceChildren(...data.reports.map((r) => {
        const tr = row([r.name, r.title, r.period, r.charts.join(", "), null]);
        const b = button("Run now", () => runNow(r.name, b));
        tr.lastChild.append(b);
        tr.dataset.report = r.name;
        return tr;
      }));
      $("report-schedules").replaceChildren(...data.schedules.map((s) =>
        row([s.id, s.name, s.cron, [...s.emails, ...(s.webhook ? [s.webhook] : [])].join(", ")])));
      $("report-runs").replaceChildren(...data.runs.map((r) => {
        const when = new Date(r.slot * 1000).toLocaleString();
        const tr = row([when, r.report || r.schedule_id, r.status, r.task_id, r.ref ? button("Open", () => open(r.ref))
          : r.error || ""]);
        return tr;
      }));
      showError("");
    } catch (err) {
      showError(err.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const tab = document.querySelector('.tab[data-tab="reports"]');
    if (!tab) return;
    tab.addEventListener("click", load);
    $("reports-refresh").addEventListener("click", load);
  });
})();
