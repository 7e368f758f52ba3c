// The Open-AutoGLM web console. Plain JS, no build step; the one third-party file is the vendored graph layout
// (dagre.min.js, see README.md here), used by plan-view.js, which draws a task's plan and timeline.
// Every value from the API is rendered with textContent (never innerHTML): the page's CSP also requires
// Trusted Types, so an HTML sink would throw rather than render data as markup.
"use strict";

(() => {
  const KEY_STORE = "autoglm.apiKey";
  const PREVIEW_CHARS = 280;
  const TRACE_VALUE_CHARS = 2000;
  const APPROVAL_POLL_MS = 3000;

  const $ = (id) => document.getElementById(id);
  const state = {
    key: sessionStorage.getItem(KEY_STORE),
    operator: false,        // may read /v1/approvals
    approvalsOff: null,     // why approvals are unavailable here, if they are
    run: null,              // {id, abort, steps: Map, order: [], finished}
    runView: null,          // the Run view's plan graph and timeline
    traceView: null,        // the Tasks view's, for the task opened there
    traceFollow: null,      // the AbortController of the opened task's live events, while it runs
    pollTimer: null,
    tickTimer: null,
  };

  // ---- small DOM helpers (text only) ----
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  function clear(node) { node.replaceChildren(); }
  function show(node, visible) { node.hidden = !visible; }
  function setText(id, text) { $(id).textContent = text; }
  function statusBadge(status) { return el("span", { class: `status ${status}`, text: status }); }
  function preview(value, limit = PREVIEW_CHARS) {
    if (value === null || value === undefined) return "";
    const text = typeof value === "string" ? value : JSON.stringify(value);
    return text.length > limit ? `${text.slice(0, limit)}…` : text;
  }
  function seconds(s) {
    if (s === null || s === undefined || Number.isNaN(s)) return "";
    return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
  }
  function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : ""; }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---- the API ----
  class ApiError extends Error {
    constructor(status, type, message, retryAfter) {
      super(message);
      this.status = status;
      this.type = type;
      this.retryAfter = retryAfter;
    }
  }

  async function toError(res) {
    let type = "";
    let message = res.statusText;
    try {
      const body = await res.json();
      type = body.error?.type || "";
      message = body.error?.message || message;
    } catch { /* not JSON: keep the status text */ }
    return new ApiError(res.status, type, message, res.headers.get("Retry-After"));
  }

  // What a person should read for a failed call.
  function explain(err) {
    if (!(err instanceof ApiError)) return `Something went wrong in the console: ${err.message || err}`;
    switch (err.status) {
      case 0: return `Cannot reach the gateway (${err.message}). Is \`autoglm serve\` running?`;
      case 401: return "This API key was not accepted (401). Check that it was pasted whole and has not been revoked.";
      case 403: return `Your key's role may not do this (403): ${err.message}`;
      case 429: {
        const wait = err.retryAfter ? ` Try again in ${Math.ceil(Number(err.retryAfter))} s.` : " Try again shortly.";
        return `Too many requests for this key (429).${wait}`;
      }
      default: return `${err.status} ${err.type ? `${err.type}: ` : ""}${err.message}`;
    }
  }

  async function request(path, { method = "GET", body, signal, accept = "application/json", headers = {} } = {}) {
    const all = { Authorization: `Bearer ${state.key}`, Accept: accept, ...headers };
    if (body !== undefined) all["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, {
        method, headers: all, body: body === undefined ? undefined : JSON.stringify(body),
        signal, cache: "no-store", credentials: "omit",
      });
    } catch (exc) {
      if (signal?.aborted) throw exc;
      throw new ApiError(0, "network", exc.message || String(exc));
    }
    if (!res.ok) {
      const err = await toError(res);
      if (err.status === 401 && state.key) signOut(explain(err));
      throw err;
    }
    return res;
  }
  const api = async (path, options) => (await request(path, options)).json();

  // Server-sent events over fetch (EventSource cannot send an Authorization header). Resumes with
  // Last-Event-ID when the stream drops before the gateway's closing `end` event.
  async function followEvents(taskId, signal, onEvent, onReconnect, after = null) {
    let lastId = after;
    for (let attempt = 0; ; attempt++) {
      const headers = lastId ? { "Last-Event-ID": lastId } : {};
      const res = await request(`/v1/tasks/${encodeURIComponent(taskId)}/events`,
        { signal, accept: "text/event-stream", headers });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = (buffer + value).replace(/\r\n|\r(?=.)/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const message = parseSse(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
            if (!message) continue;
            if (message.id) lastId = message.id;
            if (message.event === "end") return;
            if (message.data) onEvent(JSON.parse(message.data));
          }
        }
      } catch (exc) {
        if (signal.aborted) throw exc;
      }
      if (attempt >= 5) throw new ApiError(0, "stream", "the event stream kept closing before the task ended");
      onReconnect(attempt + 1);
      await sleep(300 * (attempt + 1));
    }
  }

  function parseSse(block) {
    const message = { event: "message", data: "", id: null };
    let data = [];
    let any = false;
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;  // a comment: keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      any = true;
      if (field === "data") data.push(value);
      else if (field === "event") message.event = value;
      else if (field === "id") message.id = value;
    }
    message.data = data.join("\n");
    return any ? message : null;
  }

  // ---- sign in / out ----
  async function signIn(key) {
    state.key = key;
    show($("signin-error"), false);
    try {
      await api("/v1/tasks?limit=1");
    } catch (err) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORE);
      showSignInError(explain(err));
      return;
    }
    sessionStorage.setItem(KEY_STORE, key);
    $("api-key").value = "";
    await probeApprovals();
    show($("signin"), false);
    show($("tabs"), true);
    show($("who"), true);
    setText("who-text", state.operator ? "Signed in (operator)" : "Signed in");
    selectTab("run");
    startPolling();
  }

  function showSignInError(text) {
    setText("signin-error", text);
    show($("signin-error"), true);
  }

  function signOut(reason) {
    sessionStorage.removeItem(KEY_STORE);
    state.key = null;
    state.operator = false;
    state.run?.abort.abort();
    state.run = null;
    state.traceFollow?.abort();
    clearInterval(state.pollTimer);
    clearInterval(state.tickTimer);
    for (const panel of document.querySelectorAll(".panel")) show(panel, false);
    show($("tabs"), false);
    show($("who"), false);
    show($("banner"), false);
    show($("run"), false);
    show($("signin"), true);
    if (reason) showSignInError(reason);
    else show($("signin-error"), false);
    $("api-key").focus();
  }

  async function probeApprovals() {
    try {
      await api("/v1/approvals");
      state.operator = true;
      state.approvalsOff = null;
    } catch (err) {
      state.operator = false;
      state.approvalsOff = err.status === 403
        ? "Approvals are for operators: your key's role cannot see or decide them (403)."
        : explain(err);
    }
  }

  // ---- tabs ----
  function selectTab(name) {
    for (const tab of document.querySelectorAll(".tab")) {
      tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
    }
    for (const panel of document.querySelectorAll(".panel")) show(panel, panel.id === `panel-${name}`);
    if (name === "tasks") loadTasks();
    else if (name === "nodes") loadNodes();
    else if (name === "approvals") loadApprovals();
    else $("request").focus();
  }

  function banner(text) {
    setText("banner", text);
    show($("banner"), Boolean(text));
  }

  // ---- running a request ----
  async function submitRequest(text) {
    state.run?.abort.abort();
    banner("");
    $("submit").disabled = true;
    setText("run-status", "Submitting…");
    let created;
    try {
      created = await api("/v1/tasks", { method: "POST", body: { request: text } });
    } catch (err) {
      setText("run-status", "");
      $("submit").disabled = false;
      banner(explain(err));
      return;
    }
    const run = { id: created.id, abort: new AbortController(), steps: new Map(), finished: false };
    state.run = run;
    setText("run-id", run.id);
    setText("run-request", text);
    setRunState("queued");
    clear($("steps"));
    state.runView.reset();
    state.runView.follow();
    show($("answer-box"), false);
    show($("run"), true);
    setText("run-status", "Running…");
    clearInterval(state.tickTimer);
    state.tickTimer = setInterval(() => tickDurations(run), 250);
    try {
      await followEvents(run.id, run.abort.signal, (ev) => onRunEvent(run, ev),
        (n) => setText("run-status", `Connection dropped; resuming (${n})…`));
      setText("run-status", "");
    } catch (err) {
      if (!run.abort.signal.aborted) {
        banner(`Lost the task's live events: ${explain(err)}`);
        setText("run-status", "");
      }
    } finally {
      if (state.run === run) {
        $("submit").disabled = false;
        clearInterval(state.tickTimer);
        tickDurations(run);
      }
    }
  }

  function setRunState(status) {
    const node = $("run-state");
    node.className = `status ${status}`;
    node.textContent = status;
  }

  function stepOf(run, id, uses) {
    let step = run.steps.get(id);
    if (!step) {
      // The cell shows a preview; the row opens the step in the graph's detail, with the whole output.
      const row = el("tr", { "data-step": id, title: "click for the step's arguments and whole output" });
      row.addEventListener("click", () => state.runView.select(id));
      const cells = ["id", "tool", "state", "duration", "output"].map((name) => el("td", { class: name }));
      row.append(...cells);
      cells[0].append(el("code", { text: id }));
      $("steps").append(row);
      step = { id, uses: uses || "", status: "waiting", started: null, duration: null, output: "", detail: "", row };
      run.steps.set(id, step);
    }
    if (uses) step.uses = uses;
    return step;
  }

  function renderStep(step) {
    const [, tool, status, duration, output] = step.row.children;
    step.row.dataset.status = step.status;
    tool.textContent = step.uses;
    status.replaceChildren(statusBadge(step.status));
    duration.textContent = seconds(step.duration);
    output.replaceChildren(step.output);
    if (step.detail) output.append(el("span", { class: "detail", text: step.detail }));
  }

  function tickDurations(run) {
    state.runView.tick();
    for (const step of run.steps.values()) {
      if ((step.status === "running" || step.status === "retry") && step.started) {
        step.row.querySelector("td.duration").textContent = seconds(Math.max(0, Date.now() / 1000 - step.started));
      }
    }
  }

  function addPlannedSteps(run, plan) {
    for (const s of plan?.steps || []) {
      if (s && typeof s.id === "string") renderStep(stepOf(run, s.id, s.uses));
    }
  }

  function onRunEvent(run, ev) {
    const d = ev.data || {};
    const step = ev.step_id ? stepOf(run, ev.step_id, d.uses) : null;
    switch (ev.kind) {
      case "task.started": setRunState("running"); break;
      case "plan.made": case "plan.repaired": case "plan.fallback": case "replan":
        addPlannedSteps(run, d.plan || d.new_plan);
        break;
      case "step.started":
        Object.assign(step, { status: "running", started: ev.ts, detail: "" });
        break;
      case "step.retry":
        Object.assign(step, { status: "retry", detail: `attempt ${d.attempt} after: ${preview(d.error)}` });
        break;
      case "step.finished":
        Object.assign(step, { status: "done", duration: d.duration_s, output: preview(d.output),
          detail: [d.node ? `node ${d.node}` : "", d.attempts > 1 ? `${d.attempts} attempts` : ""]
            .filter(Boolean).join(" · ") });
        break;
      case "step.failed":
        Object.assign(step, { status: "failed", duration: step.started ? ev.ts - step.started : null,
          output: preview(d.error),
          detail: d.error_type && !String(d.error).startsWith(d.error_type) ? d.error_type : "" });
        break;
      case "step.skipped":
        Object.assign(step, { status: "skipped", output: "", detail: preview(d.reason) });
        break;
      case "approval":
        if (d.status === "pending") {
          step.detail = `waiting for an operator's approval of ${d.tool}` +
            (state.operator ? " (see Approvals)" : "");
          refreshApprovalsSoon();
        } else if (d.approved !== undefined) {
          step.detail = `${d.tool} ${d.approved ? "approved" : "not approved"}${d.by ? ` by ${d.by}` : ""}` +
            (d.reason ? `: ${d.reason}` : "");
        }
        break;
      case "tool.denied":
        step.detail = `${d.tool} denied: ${d.reason}`;
        break;
      case "answer": showAnswer(d.answer, d.status); break;
      case "clarification": showAnswer(d.question, "needs_input", "Question"); break;
      case "task.finished": run.finished = true; setRunState(d.status || "succeeded"); break;
      case "task.failed":
        run.finished = true;
        setRunState("failed");
        if ($("answer-box").hidden) showAnswer(d.error || "the task failed", "failed", "Error");
        break;
      default: break;
    }
    if (step) renderStep(step);
    state.runView.apply(ev);
  }

  function showAnswer(text, status, title = "Answer") {
    setText("answer-title", title);
    const box = $("answer");
    box.textContent = text ?? "";
    box.className = status === "failed" ? "answer failed" : "answer";
    show($("answer-box"), true);
  }

  // ---- tasks and traces ----
  async function loadTasks() {
    show($("tasks-error"), false);
    let body;
    try {
      body = await api("/v1/tasks?limit=50");
    } catch (err) {
      setText("tasks-error", explain(err));
      show($("tasks-error"), true);
      return;
    }
    const rows = body.data.map((task) => {
      const row = el("tr", { "data-task": task.id, tabindex: "0" },
        el("td", { text: when(task.created_at) }),
        el("td", {}, statusBadge(task.status)),
        el("td", { class: "request", text: preview(task.request || "(a plan)", 160) }),
        el("td", {}, el("code", { text: task.id })));
      row.addEventListener("click", () => showTrace(task.id));
      row.addEventListener("keydown", (e) => { if (e.key === "Enter") showTrace(task.id); });
      return row;
    });
    $("tasks").replaceChildren(...rows);
    show($("tasks-empty"), rows.length === 0);
  }

  async function showTrace(taskId) {
    state.traceFollow?.abort();
    state.traceFollow = null;
    state.traceView.reset();
    for (const row of $("tasks").children) row.classList.toggle("selected", row.dataset.task === taskId);
    setText("trace-id", taskId);
    show($("trace-error"), false);
    clear($("trace-tree"));
    show($("trace"), true);
    let body;
    try {
      body = await api(`/v1/tasks/${encodeURIComponent(taskId)}/trace`);
    } catch (err) {
      setText("trace-error", explain(err));
      show($("trace-error"), true);
      return;
    }
    const badge = statusBadge(body.status);
    $("trace-state").replaceWith(Object.assign(badge, { id: "trace-state" }));
    $("trace-tree").replaceChildren(...traceTree(body.events));
    state.traceView.load(body.events);
    $("trace").scrollIntoView({ block: "nearest" });
    if (body.status === "queued" || body.status === "running") followTrace(taskId, body.events);
  }

  // A task opened while it runs: its graph and timeline go on from the live events after the ones loaded.
  async function followTrace(taskId, events) {
    const abort = new AbortController();
    state.traceFollow = abort;
    const view = state.traceView;
    view.follow();
    const tick = setInterval(() => view.tick(), 250);
    const last = events.length ? String(events[events.length - 1].seq) : null;
    try {
      await followEvents(taskId, abort.signal, (ev) => view.apply(ev), () => {}, last);
      if (state.traceFollow === abort) showTrace(taskId);  // the finished trace: the event tree too
    } catch { /* aborted, or the stream gave up: the graph keeps what it had */ } finally {
      clearInterval(tick);
    }
  }

  // Task-level events in order; each step's events grouped under one node placed where the step first appears.
  function traceTree(events) {
    const t0 = events.length ? events[0].ts : 0;
    const items = [];
    const groups = new Map();
    for (const ev of events) {
      if (!ev.step_id) { items.push(eventNode(ev, t0)); continue; }
      let group = groups.get(ev.step_id);
      if (!group) {
        group = { list: el("ul"), summary: el("summary"), status: "waiting", uses: "", duration: null };
        const details = el("details", { class: "step-node", "data-step": ev.step_id }, group.summary, group.list);
        groups.set(ev.step_id, group);
        items.push(el("li", {}, details));
      }
      const d = ev.data || {};
      if (d.uses) group.uses = d.uses;
      const status = { "step.started": "running", "step.retry": "retry", "step.finished": "done",
        "step.failed": "failed", "step.skipped": "skipped" }[ev.kind];
      if (status) group.status = status;
      if (ev.kind === "step.finished") group.duration = d.duration_s;
      group.list.append(eventNode(ev, t0));
    }
    for (const [id, group] of groups) {
      group.summary.replaceChildren(el("span", { class: "ev-kind", text: `step ${id}` }), " ",
        el("code", { text: group.uses }), " ", statusBadge(group.status),
        el("span", { class: "muted", text: group.duration === null ? "" : ` ${seconds(group.duration)}` }));
      group.summary.parentElement.dataset.status = group.status;
    }
    return items;
  }

  function eventNode(ev, t0) {
    const d = ev.data || {};
    const summary = el("summary", {},
      el("span", { class: "ev-time", text: `+${((ev.ts - t0) * 1000).toFixed(0)} ms` }),
      el("span", { class: "ev-kind", text: ev.kind }),
      el("span", { class: "muted", text: `  ${preview(eventHint(ev.kind, d), 120)}` }));
    // The value's tree is built when first opened: a 200-step trace has a thousand events, mostly never opened.
    const details = el("details", {}, summary);
    details.addEventListener("toggle", () => {
      if (details.open && details.childElementCount === 1) details.append(valueTree(d, 0));
    });
    return el("li", { "data-kind": ev.kind }, details);
  }

  // The one line that says most about an event, shown next to its kind.
  function eventHint(kind, d) {
    if (kind === "approval") {
      const verdict = d.status || (d.approved === undefined ? "" : d.approved ? "approved" : "not approved");
      return [d.tool, verdict, d.decided_by || d.by ? `by ${d.decided_by || d.by}` : ""].filter(Boolean).join(" ");
    }
    if (kind === "plan.made" && d.plan?.steps) return `${d.plan.steps.length} steps (${d.planner || "planner"})`;
    const key = ["error", "reason", "answer", "question", "text", "output", "request", "status"]
      .find((k) => d[k] !== undefined && d[k] !== null && d[k] !== "");
    return key ? d[key] : "";
  }

  function valueTree(value, depth) {
    if (value === null || typeof value !== "object") {
      const text = typeof value === "string" ? value : JSON.stringify(value);
      return el("span", { class: "kv-value", text: preview(text, TRACE_VALUE_CHARS) });
    }
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    if (!entries.length) return el("span", { class: "muted", text: Array.isArray(value) ? "[]" : "{}" });
    if (depth > 6) return el("span", { class: "kv-value", text: preview(value, TRACE_VALUE_CHARS) });
    return el("ul", {}, ...entries.map(([k, v]) =>
      el("li", {}, el("span", { class: "kv-key", text: `${k}: ` }), valueTree(v, depth + 1))));
  }

  // ---- nodes ----
  async function loadNodes() {
    show($("nodes-error"), false);
    let body;
    try {
      body = await api("/v1/nodes");
    } catch (err) {
      setText("nodes-error", explain(err));
      show($("nodes-error"), true);
      return;
    }
    $("nodes").replaceChildren(...body.data.map((n) => el("tr", { "data-node": n.name },
      el("td", {}, el("strong", { text: n.name })),
      el("td", { text: n.type || "" }),
      el("td", {}, statusBadge(n.state || "unknown")),
      el("td", { text: n.breaker || "" }),
      el("td", { text: `${n.in_flight ?? ""}${n.concurrency_limit ? ` / ${n.concurrency_limit}` : ""}` }),
      el("td", { text: n.ewma_latency_ms === null || n.ewma_latency_ms === undefined
        ? "–" : `${Math.round(n.ewma_latency_ms)} ms` }),
      el("td", { text: `${n.calls ?? 0} / ${n.errors ?? 0}` }),
      el("td", { text: (n.capabilities || []).join(", ") }))));
  }

  // ---- approvals ----
  async function loadApprovals() {
    const error = $("approvals-error");
    if (!state.operator) {
      await probeApprovals();
      if (!state.operator) {
        error.textContent = state.approvalsOff;
        show(error, true);
        clear($("approvals"));
        show($("approvals-empty"), false);
        return;
      }
    }
    let body;
    try {
      body = await api("/v1/approvals");
    } catch (err) {
      error.textContent = explain(err);
      show(error, true);
      return;
    }
    show(error, false);
    renderApprovals(body.data);
  }

  function renderApprovals(pending) {
    const count = $("approval-count");
    count.textContent = String(pending.length);
    show(count, pending.length > 0);
    const list = $("approvals");
    const known = new Set(pending.map((r) => r.id));
    for (const item of [...list.children]) if (!known.has(item.dataset.id)) item.remove();
    for (const r of pending) {
      let item = list.querySelector(`li[data-id="${CSS.escape(r.id)}"]`);
      if (!item) {
        item = $("approval-template").content.firstElementChild.cloneNode(true);
        item.dataset.id = r.id;
        item.querySelector(".a-tool").textContent = r.tool;
        item.querySelector(".a-task").textContent = r.task_id;
        item.querySelector(".a-step").textContent = r.step_id;
        item.querySelector(".a-role").textContent = r.role;
        item.querySelector(".a-args").textContent = JSON.stringify(r.args, null, 2);
        item.querySelector(".a-approve").addEventListener("click", () => decide(item, r.id, true));
        item.querySelector(".a-deny").addEventListener("click", () => decide(item, r.id, false));
        list.append(item);
      }
      const left = Math.max(0, Math.round(r.expires_at - Date.now() / 1000));
      item.querySelector(".a-expires").textContent = r.expires_at == null ? "waits for a decision"
        : `expires in ${left} s`;
    }
    show($("approvals-empty"), pending.length === 0);
  }

  async function decide(item, id, approved) {
    for (const button of item.querySelectorAll("button")) button.disabled = true;
    const reason = item.querySelector(".a-reason").value.trim();
    try {
      await api(`/v1/approvals/${encodeURIComponent(id)}`,
        { method: "POST", body: { approved, reason: reason || null } });
      item.remove();
    } catch (err) {
      setText("approvals-error", explain(err));
      show($("approvals-error"), true);
      for (const button of item.querySelectorAll("button")) button.disabled = false;
    }
    loadApprovals();
  }

  let approvalsSoon = null;
  function refreshApprovalsSoon() {
    if (!state.operator || approvalsSoon) return;
    approvalsSoon = setTimeout(() => { approvalsSoon = null; pollApprovals(); }, 100);
  }

  async function pollApprovals() {
    if (!state.operator || document.hidden) return;
    try {
      renderApprovals((await api("/v1/approvals")).data);
    } catch { /* shown when the Approvals tab is opened; a 401 signs out in request() */ }
  }

  function startPolling() {
    clearInterval(state.pollTimer);
    if (state.operator) {
      pollApprovals();
      state.pollTimer = setInterval(pollApprovals, APPROVAL_POLL_MS);
    }
  }

  // ---- wiring ----
  document.addEventListener("DOMContentLoaded", () => {
    state.runView = AutoGLMPlan.create($("run-plan"));
    state.traceView = AutoGLMPlan.create($("trace-plan"));
    $("signin-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const key = $("api-key").value.trim();
      if (key) signIn(key);
    });
    $("sign-out").addEventListener("click", () => signOut(""));
    $("request-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = $("request").value.trim();
      if (text) submitRequest(text);
    });
    $("request").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("request-form").requestSubmit();
    });
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => selectTab(tab.dataset.tab));
    }
    $("tasks-refresh").addEventListener("click", loadTasks);
    $("nodes-refresh").addEventListener("click", loadNodes);
    $("approvals-refresh").addEventListener("click", loadApprovals);
    $("run-trace").addEventListener("click", () => {
      if (!state.run) return;
      const id = state.run.id;
      selectTab("tasks");
      showTrace(id);
    });
    if (state.key) signIn(state.key);
    else $("api-key").focus();
  });
})();
