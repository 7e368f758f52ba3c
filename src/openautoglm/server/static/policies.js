// The console's Policies tab: the active routing policy (pinned or not), every version, and the history of what
// happened to them (who, when, why, with the loop's figures); operators can roll back (GET /v1/policies,
// GET /v1/policies/history, POST /v1/policies/rollback). A file of its own beside console.js; like it, every value
// is rendered with textContent.
"use strict";

(() => {
  const { $, call, row } = window.consoleTabKit;
  const showError = window.consoleTabKit.errorLine("policies-error");

  const when = (ts) => new Date(ts * 1000).toLocaleString();

  // The figures a decision was made on, in one line: p-values of the tests, calls on each side.
  function figures(data) {
    const test = data.test;
    if (test && test.calls) {
      const p = (t) => (t && typeof t.p === "number" ? t.p.toPrecision(2) : "-");
      return `calls ${test.calls.join(" vs ")}; p errors ${p(test.errors)}, latency ${p(test.latency)}, ` +
        `ratings ${p(test.ratings)}`;
    }
    if (data.changes) return data.changes.join("; ");
    if (data.share !== undefined) return `share ${data.share}, window ${data.window}`;
    return Object.entries(data).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v}`).join(", ");
  }

  async function load() {
    try {
      const [list, history] = await Promise.all([call("/v1/policies"), call("/v1/policies/history?limit=100")]);
      const s = list.state;
      $("policy-state").textContent = s.active == null ? "Routing as configured (no policy active)."
        : `Active: v${s.active}${s.pinned ? " (pinned)" : ""}; before it: ${s.previous == null ? "none" : "v" + s.previous}` +
          (list.canary ? `; canary v${list.canary.version} on ${Math.round(list.canary.share * 100)} % of calls` : "");
      $("policy-versions").replaceChildren(...list.data.slice().reverse().map((p) => {
        const tr = row([`v${p.version}`, when(p.created_at), p.origin, p.author, p.reason]);
        if (p.version === s.active) tr.classList.add("active");
        tr.dataset.version = p.version;
        return tr;
      }));
      $("policy-history").replaceChildren(...history.data.map((e) => {
        const tr = row([when(e.at), e.kind, e.version == null ? "" : `v${e.version}`, e.author, e.reason,
          figures(e.data)]);
        tr.dataset.kind = e.kind;
        return tr;
      }));
      $("policy-rollback").disabled = s.active == null || s.pinned;
      showError("");
    } catch (err) {
      showError(err.message);
    }
  }

  async function rollback() {
    try {
      await call("/v1/policies/rollback", { reason: "from the console" });
      await load();
    } catch (err) {
      showError(err.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const tab = document.querySelector('.tab[data-tab="policies"]');
    if (!tab) return;
    tab.addEventListener("click", load);
    $("policies-refresh").addEventListener("click", load);
    $("policy-rollback").addEventListener("click", rollback);
  });
})();
