// What ran, drawn: a task's plan as a graph (steps and their dependencies) and a timeline of its steps, both SVG,
// built from the task's events (the trace, or the live event stream one event at a time). Used by the console's
// Run and Tasks views and by the page `autoglm trace ID --html` writes, so there is one drawing of a task.
// Layout by the vendored dagre (dagre.min.js, loaded first). Every value is set with textContent or as an SVG
// attribute, never parsed as markup.
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const NODE_W = 178;
  const NODE_H = 56;
  const TIMELINE_W = 960;      // the timeline's drawing width (viewBox units; the SVG scales to its box)
  const LABEL_W = 170;         // the step names left of the bars
  const ROW_H = 22;
  const AXIS_H = 24;
  const REFERENCE = /\$\{\s*([^}]*?)\s*\}/g;  // as plan.py's _REFERENCE
  const STATUS_OF = { "step.started": "running", "step.retry": "retry", "step.finished": "done",
    "step.failed": "failed", "step.skipped": "skipped" };
  let instances = 0;

  // ---- small DOM helpers (text only) ----
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    node.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
    return node;
  }
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    node.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
    return node;
  }
  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.setAttribute("class", value);
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, String(value));
    }
  }
  function seconds(s) {
    if (s === null || s === undefined || Number.isNaN(s)) return "";
    return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
  }
  // Cut a label to about `units` wide (a CJK character counts two); the full text is in the node's <title>.
  function fit(text, units) {
    let width = 0;
    for (let i = 0; i < text.length; i++) {
      width += text.charCodeAt(i) > 0x2e80 ? 2 : 1;
      if (width > units) return `${text.slice(0, i)}…`;
    }
    return text;
  }

  // ---- the plan's edges: depends_on, and each step a reference in `with` or `when` reads ----
  function* strings(value) {
    if (typeof value === "string") yield value;
    else if (Array.isArray(value)) for (const v of value) yield* strings(v);
    else if (value && typeof value === "object") for (const v of Object.values(value)) yield* strings(v);
  }
  function planEdges(steps) {
    const edges = new Map();  // "from\u0000to" -> {from, to, kind, refs}
    const add = (from, to, kind, ref) => {
      const key = `${from}\u0000${to}`;
      const edge = edges.get(key) || { from, to, kind, refs: [] };
      if (kind === "data") edge.kind = "data";
      if (ref && !edge.refs.includes(ref)) edge.refs.push(ref);
      edges.set(key, edge);
    };
    for (const step of steps) {
      for (const dep of step.depends_on || []) add(dep, step.id, "order");
      for (const text of strings([step.with || {}, step.when || ""])) {
        for (const match of text.matchAll(REFERENCE)) {
          const head = match[1].split(".")[0];
          if (head && head !== "inputs") add(head, step.id, "data", `\${${match[1]}}`);
        }
      }
    }
    return [...edges.values()];
  }

  // ---- the critical path: the chain of dependent steps whose durations add up to the most ----
  // ids: the steps; deps: id -> the ids it waits for; weight: id -> seconds. Returns {path: [ids], length}.
  function criticalPath(ids, deps, weight) {
    const known = new Set(ids);
    const dist = new Map();
    const via = new Map();
    const visiting = new Set();
    const longest = (id) => {
      if (dist.has(id)) return dist.get(id);
      if (visiting.has(id)) return 0;  // a cycle cannot be run; never loop on one
      visiting.add(id);
      let best = 0;
      let bestVia = null;
      for (const dep of deps.get(id) || []) {
        if (!known.has(dep)) continue;
        const d = longest(dep);
        if (d > best || bestVia === null) { best = d; bestVia = dep; }
      }
      visiting.delete(id);
      dist.set(id, best + (weight.get(id) || 0));
      via.set(id, bestVia);
      return dist.get(id);
    };
    let end = null;
    for (const id of ids) if (end === null || longest(id) > longest(end)) end = id;
    const path = [];
    for (let id = end; id !== null && id !== undefined; id = via.get(id)) path.unshift(id);
    return { path, length: end === null ? 0 : dist.get(end) };
  }

  // dagre's ranker hook: each step in the column of the wave it can first run in (its longest chain of dependencies
  // from a step that needs none). dagre's default ranker (network simplex) took about 4× as long for a 200-step
  // plan (bench/console_graph.py), and its own "longest-path" ranks from the sinks, putting a lone step last.
  function waveRanks(g) {
    const waiting = new Map(g.nodes().map((v) => [v, g.inEdges(v).length]));
    const ready = g.nodes().filter((v) => waiting.get(v) === 0);
    for (const v of ready) g.node(v).rank = 0;
    for (let i = 0; i < ready.length; i++) {
      const v = ready[i];
      for (const e of g.outEdges(v)) {
        const rank = g.node(v).rank + (g.edge(e).minlen ?? 1);
        const w = g.node(e.w);
        if (w.rank === undefined || w.rank < rank) w.rank = rank;
        waiting.set(e.w, waiting.get(e.w) - 1);
        if (waiting.get(e.w) === 0) ready.push(e.w);
      }
    }
  }

  // ---- a JSON value as a collapsible tree, whole (never cut) ----
  function jsonTree(value, depth = 0) {
    if (value === null || typeof value !== "object") {
      const kind = value === null ? "null" : typeof value;
      const text = typeof value === "string" ? `"${value}"` : JSON.stringify(value) ?? String(value);
      return el("span", { class: `pv-json pv-json-${kind}`, text });
    }
    const isArray = Array.isArray(value);
    const entries = isArray ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    if (!entries.length) return el("span", { class: "pv-json", text: isArray ? "[]" : "{}" });
    const summary = el("summary", { class: "pv-json-summary",
      text: isArray ? `[ ${entries.length} item${entries.length === 1 ? "" : "s"} ]`
        : `{ ${entries.length} key${entries.length === 1 ? "" : "s"} }` });
    const list = el("ul", { class: "pv-json-list" }, ...entries.map(([k, v]) =>
      el("li", {}, el("span", { class: "pv-json-key", text: `${k}: ` }), jsonTree(v, depth + 1))));
    const details = el("details", { class: "pv-json-node" }, summary, list);
    details.open = depth < 2;
    return details;
  }

  // ---- one task's steps, as its events tell them ----
  function newStep(id, order) {
    return { id, order, uses: "", with: undefined, dependsOn: [], status: "waiting", started: null, finished: null,
      duration: null, args: undefined, output: undefined, error: null, errorType: null, reason: null, node: null,
      attempts: null, retries: [], fallbacks: [], prompts: [], completions: [], notes: [] };
  }

  class PlanView {
    constructor(container) {
      this.id = ++instances;
      this.container = container;
      this.graphSvg = svg("svg", { class: "pv-graph", role: "img", "aria-label": "the plan as a graph" });
      this.timelineSvg = svg("svg", { class: "pv-timeline", role: "img", "aria-label": "the steps on a time axis",
        preserveAspectRatio: "xMinYMin meet" });
      this.detail = el("div", { class: "pv-detail", hidden: "" });
      this.summary = el("p", { class: "pv-summary muted" });
      container.replaceChildren(
        el("div", { class: "pv-graph-box" }, this.graphSvg),
        el("div", { class: "pv-legend muted" }, ...["waiting", "running", "retry", "done", "failed", "skipped"]
          .map((s) => el("span", { class: `pv-key ${s}`, text: s })),
        el("span", { class: "pv-key critical", text: "critical path" })),
        el("h3", { text: "Timeline" }), this.summary,
        el("div", { class: "pv-timeline-box" }, this.timelineSvg), this.detail);
      container.classList.add("plan-view");
      this.reset();
    }

    reset() {
      this.steps = new Map();
      this.edges = [];
      this.t0 = null;
      this.lastTs = null;
      this.live = false;
      this.finished = false;
      this.selected = null;
      this.structureDirty = true;
      this.pending = false;
      this.drawMs = null;
      this.detail.hidden = true;
      this.detail.replaceChildren();
      this.draw();
    }

    step(id) {
      let step = this.steps.get(id);
      if (!step) {
        step = newStep(id, this.steps.size);
        this.steps.set(id, step);
        this.structureDirty = true;
      }
      return step;
    }

    setPlan(plan) {
      const planned = (plan?.steps || []).filter((s) => s && typeof s.id === "string");
      for (const s of planned) {
        const step = this.step(s.id);
        step.uses = s.uses || step.uses;
        step.with = s.with;
        step.dependsOn = s.depends_on || [];
      }
      // A plan replaced by a new one (a replan) keeps the steps that ran; the edges are the newest plan's.
      this.edges = planEdges(planned);
      this.structureDirty = true;
    }

    // One event, in order. `live` draws on the next frame; load() draws once at the end.
    apply(ev) {
      const d = ev.data || {};
      if (this.t0 === null || ev.kind === "task.started") this.t0 = this.t0 === null ? ev.ts : Math.min(this.t0, ev.ts);
      this.lastTs = Math.max(this.lastTs ?? ev.ts, ev.ts);
      const step = ev.step_id ? this.step(ev.step_id) : null;
      if (step && d.uses) step.uses = d.uses;
      if (step && STATUS_OF[ev.kind]) step.status = STATUS_OF[ev.kind];
      switch (ev.kind) {
        case "plan.made": case "plan.repaired": this.setPlan(d.plan); break;
        case "replan":
          if (d.plan) this.setPlan(d.plan);
          for (const [id, tool] of Object.entries(d.replaced || {})) this.step(id).notes.push(`replaced by ${tool}`);
          break;
        case "step.started":
          step.started ??= ev.ts;
          step.args = d.args;
          Object.assign(step, { finished: null, error: null, errorType: null });
          break;
        case "step.retry": step.retries.push({ attempt: d.attempt, error: d.error, errorType: d.error_type }); break;
        case "step.finished":
          Object.assign(step, { finished: ev.ts, duration: d.duration_s, output: d.output, attempts: d.attempts });
          if (d.node) step.node = d.node;
          break;
        case "step.failed":
          Object.assign(step, { finished: ev.ts, error: d.error, errorType: d.error_type, attempts: d.attempts });
          if (step.started !== null) step.duration = ev.ts - step.started;
          break;
        case "step.skipped": step.reason = d.reason; break;
        case "model.prompt": if (step) step.prompts.push(d); break;
        case "model.completion":
          if (step) { step.completions.push(d); if (d.node) step.node ??= d.node; }
          break;
        case "fallback": if (step) step.fallbacks.push(d); break;
        case "approval":
          if (step && (d.status || d.approved !== undefined)) {
            step.notes.push(`approval of ${d.tool}: ${d.status || (d.approved ? "approved" : "not approved")}`);
          }
          break;
        case "tool.denied": if (step) step.notes.push(`${d.tool} denied: ${d.reason}`); break;
        case "task.finished": case "task.failed": this.finished = true; break;
        default: break;
      }
      if (this.live) this.schedule();
    }

    // A finished or running task's whole trace at once, drawn once.
    load(events) {
      this.reset();
      for (const ev of events) this.apply(ev);
      this.draw();
    }

    follow() { this.live = true; }

    schedule() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.draw(); });
    }

    // Running bars grow with the clock while the task is live.
    tick() { if (this.live && !this.finished) this.draw(); }

    now() { return this.live && !this.finished ? Date.now() / 1000 : this.lastTs; }

    draw() {
      const start = performance.now();
      if (this.structureDirty) this.layoutGraph();
      const weights = new Map();
      const ran = [];
      for (const step of this.steps.values()) {
        if (step.started === null) continue;
        ran.push(step.id);
        weights.set(step.id, Math.max(0, (step.finished ?? this.now()) - step.started));
      }
      const deps = new Map([...this.steps.keys()].map((id) => [id, []]));
      for (const e of this.edges) deps.get(e.to)?.push(e.from);
      this.critical = criticalPath(ran, deps, weights);
      this.updateGraph();
      this.drawTimeline(weights);
      if (this.selected) this.showDetail(this.selected);
      this.drawMs = performance.now() - start;
      this.container.dataset.drawMs = this.drawMs.toFixed(1);
      this.container.dataset.steps = String(this.steps.size);
    }

    layoutGraph() {
      this.structureDirty = false;
      const g = new dagre.graphlib.Graph();
      g.setGraph({ rankdir: "LR", ranker: waveRanks, nodesep: 16, ranksep: 56, marginx: 8, marginy: 8 });
      g.setDefaultEdgeLabel(() => ({}));
      for (const id of this.steps.keys()) g.setNode(id, { width: NODE_W, height: NODE_H });
      const edges = this.edges.filter((e) => this.steps.has(e.from) && this.steps.has(e.to) && e.from !== e.to);
      for (const e of edges) g.setEdge(e.from, e.to);
      dagre.layout(g);
      const size = g.graph();
      const width = Math.max(size.width || 0, NODE_W + 16);
      const height = Math.max(size.height || 0, NODE_H + 16);
      setAttrs(this.graphSvg, { viewBox: `0 0 ${width} ${height}`, width, height });
      const arrow = `pv-arrow-${this.id}`;
      const defs = svg("defs", {}, svg("marker", { id: arrow, viewBox: "0 0 10 10", refX: 9, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z" })));
      const edgeLayer = svg("g", { class: "pv-edges" });
      this.edgeEls = [];
      for (const e of edges) {
        const points = g.edge(e.from, e.to).points;
        const d = points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
        const title = e.kind === "data" ? `${e.from} → ${e.to}: ${e.refs.join(", ")}` : `${e.to} runs after ${e.from}`;
        const path = svg("path", { class: `pv-edge ${e.kind}`, d, "marker-end": `url(#${arrow})`,
          "data-from": e.from, "data-to": e.to, "data-kind": e.kind }, svg("title", { text: title }));
        edgeLayer.append(path);
        this.edgeEls.push(path);
      }
      const nodeLayer = svg("g", { class: "pv-nodes" });
      this.nodeEls = new Map();
      for (const id of this.steps.keys()) {
        const { x, y } = g.node(id);
        const title = svg("title");
        const tool = svg("text", { class: "pv-node-tool", x: 10, y: 34 });
        const meta = svg("text", { class: "pv-node-meta", x: 10, y: 49 });
        const node = svg("g", { class: "pv-node", "data-step": id, tabindex: 0, role: "button",
          transform: `translate(${(x - NODE_W / 2).toFixed(1)},${(y - NODE_H / 2).toFixed(1)})` },
        title, svg("rect", { width: NODE_W, height: NODE_H, rx: 7 }),
        svg("text", { class: "pv-node-id", x: 10, y: 18, text: fit(id, 24) }), tool, meta);
        node.addEventListener("click", () => this.select(id));
        node.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") this.select(id); });
        nodeLayer.append(node);
        this.nodeEls.set(id, { node, title, tool, meta });
      }
      this.graphSvg.replaceChildren(defs, edgeLayer, nodeLayer);
    }

    updateGraph() {
      const onPath = new Set(this.critical.path);
      const pathEdges = new Set(this.critical.path.slice(1).map((id, i) => `${this.critical.path[i]}\u0000${id}`));
      for (const [id, parts] of this.nodeEls) {
        const step = this.steps.get(id);
        const duration = step.duration ?? (step.started !== null ? this.now() - step.started : null);
        parts.node.setAttribute("data-status", step.status);
        parts.node.classList.toggle("critical", onPath.has(id));
        parts.node.classList.toggle("selected", this.selected === id);
        parts.node.classList.toggle("fell-back", step.fallbacks.length > 0);
        parts.tool.textContent = fit(step.uses, 26);
        const extra = [step.retries.length ? `↻${step.retries.length}` : "", step.fallbacks.length ? "⇢" : ""];
        parts.meta.textContent = [step.status, seconds(duration), ...extra].filter(Boolean).join(" · ");
        parts.title.textContent = `${id} (${step.uses}): ${step.status}${duration === null ? "" : `, ${seconds(duration)}`}`;
      }
      for (const path of this.edgeEls) {
        path.classList.toggle("critical", pathEdges.has(`${path.dataset.from}\u0000${path.dataset.to}`));
      }
    }

    drawTimeline(weights) {
      const t0 = this.t0 ?? 0;
      const rows = [...this.steps.values()].sort((a, b) =>
        (a.started ?? Infinity) - (b.started ?? Infinity) || a.order - b.order);
      const ends = rows.filter((s) => s.started !== null).map((s) => (s.finished ?? this.now()) - t0);
      const span = Math.max(0.001, ...ends);
      const scale = (TIMELINE_W - LABEL_W - 70) / span;
      const height = AXIS_H + rows.length * ROW_H + 6;
      setAttrs(this.timelineSvg, { viewBox: `0 0 ${TIMELINE_W} ${height}`, "data-span-s": span.toFixed(3) });
      const axis = svg("g", { class: "pv-axis" });
      const tick = niceTick(span);
      for (let t = 0; t <= span + 1e-9; t += tick) {
        const x = LABEL_W + t * scale;
        axis.append(svg("line", { x1: x, x2: x, y1: AXIS_H - 6, y2: height }),
          svg("text", { x, y: AXIS_H - 9, text: seconds(t) }));
      }
      const onPath = new Set(this.critical.path);
      const bars = svg("g", { class: "pv-bars" });
      rows.forEach((step, i) => {
        const y = AXIS_H + i * ROW_H;
        const row = svg("g", { class: "pv-row", "data-step": step.id, "data-status": step.status },
          svg("text", { class: "pv-row-label", x: LABEL_W - 8, y: y + 15, text: fit(step.id, 22) }));
        if (step.started !== null) {
          const from = step.started - t0;
          const to = from + (weights.get(step.id) || 0);
          const x = LABEL_W + from * scale;
          const width = Math.max(2, (to - from) * scale);
          const bar = svg("rect", { class: `pv-bar${onPath.has(step.id) ? " critical" : ""}`, x: x.toFixed(2),
            y: y + 4, width: width.toFixed(2), height: ROW_H - 8, rx: 3, "data-step": step.id,
            "data-status": step.status, "data-start": from.toFixed(4), "data-end": to.toFixed(4) },
          svg("title", { text: `${step.id}: ${seconds(from)} → ${seconds(to)} (${step.status})` }));
          bar.addEventListener("click", () => this.select(step.id));
          row.append(bar, svg("text", { class: "pv-bar-label", x: x + width + 5, y: y + 15,
            text: seconds(to - from) }));
        } else if (step.status === "skipped") {
          row.append(svg("text", { class: "pv-bar-label", x: LABEL_W + 4, y: y + 15, text: "skipped" }));
        }
        bars.append(row);
      });
      this.timelineSvg.replaceChildren(axis, bars);
      const parallel = maxParallel(rows.filter((s) => s.started !== null).map((s) => [s.started, s.started + (weights.get(s.id) || 0)]));
      this.summary.textContent = `${rows.length} steps · ${seconds(span)} wall clock · up to ${parallel} at once · ` +
        `critical path ${seconds(this.critical.length)}: ${this.critical.path.join(" → ") || "–"}`;
    }

    select(id) {
      this.selected = id;
      for (const [sid, parts] of this.nodeEls || []) parts.node.classList.toggle("selected", sid === id);
      this.showDetail(id);
    }

    showDetail(id) {
      const step = this.steps.get(id);
      if (!step) return;
      const open = new Set([...this.detail.querySelectorAll("details[data-section]")]
        .filter((d) => !d.open).map((d) => d.dataset.section));
      const section = (name, title, ...body) => {
        const details = el("details", { class: "pv-section", "data-section": name }, el("summary", { text: title }), ...body);
        details.open = !open.has(name);
        return details;
      };
      const duration = step.duration ?? (step.started !== null ? this.now() - step.started : null);
      const facts = [
        ["tool", step.uses], ["status", step.status], ["duration", seconds(duration)],
        ["started", step.started === null ? "" : `+${seconds(step.started - (this.t0 ?? step.started))}`],
        ["attempts", step.attempts ?? ""], ["model node", step.node ?? ""],
        ["waits for", this.edges.filter((e) => e.to === id).map((e) => e.from).join(", ")],
      ].filter(([, v]) => v !== "" && v !== null);
      const parts = [
        el("div", { class: "pv-detail-head" }, el("h3", {}, "Step ", el("code", { text: id })),
          el("span", { class: `status ${step.status}`, text: step.status })),
        el("dl", { class: "pv-facts" }, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })])),
        section("args", "Arguments", jsonTree(step.args !== undefined ? step.args : step.with ?? {})),
      ];
      if (step.output !== undefined) parts.push(section("output", "Output", jsonTree(step.output)));
      if (step.error) parts.push(section("error", "Error", el("pre", { class: "pv-error", text: withType(step.error, step.errorType) })));
      if (step.reason) parts.push(section("reason", "Skipped because", el("p", { text: step.reason })));
      if (step.retries.length) {
        parts.push(section("retries", `Retries (${step.retries.length})`, el("ul", {}, ...step.retries.map((r) =>
          el("li", { text: `attempt ${r.attempt} after ${withType(r.error, r.errorType)}` })))));
      }
      if (step.fallbacks.length) {
        parts.push(section("fallbacks", "Fallbacks", el("ul", {}, ...step.fallbacks.map((f) =>
          el("li", { text: `${f.from} → ${f.to}: ${f.reason}` })))));
      }
      if (step.prompts.length) {
        parts.push(section("prompts", `Prompts (${step.prompts.length})`, ...step.prompts.map((p, i) =>
          el("div", { class: "pv-prompt" }, el("p", { class: "muted", text: `#${i + 1} to ${p.model}` }),
            ...(p.messages || []).map((m) => el("div", { class: "pv-message" },
              el("span", { class: "pv-role", text: m.role || "" }),
              el("pre", { text: typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 2) })))))));
      }
      if (step.completions.length) {
        parts.push(section("completions", `Model replies (${step.completions.length})`, ...step.completions.map((c) =>
          el("div", { class: "pv-prompt" }, el("p", { class: "muted",
            text: `${c.node || c.model || ""} · ${c.prompt_tokens} + ${c.completion_tokens} tokens` }),
          el("pre", { text: c.text })))));
      }
      if (step.notes.length) parts.push(section("notes", "Notes", el("ul", {}, ...step.notes.map((n) => el("li", { text: n })))));
      this.detail.replaceChildren(...parts);
      this.detail.dataset.step = id;
      this.detail.hidden = false;
    }
  }

  // An error's text led by its type, unless the text already names it.
  function withType(error, type) {
    return type && !String(error).startsWith(type) ? `${type}: ${error}` : String(error);
  }

  // The most intervals [from, to) open at one moment.
  function maxParallel(intervals) {
    const marks = intervals.flatMap(([a, b]) => [[a, 1], [Math.max(a, b), -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let open = 0;
    let most = 0;
    for (const [, delta] of marks) { open += delta; most = Math.max(most, open); }
    return most;
  }

  // An axis step of 1, 2 or 5 × 10^k giving about eight ticks.
  function niceTick(span) {
    const raw = span / 8;
    const base = 10 ** Math.floor(Math.log10(raw));
    return [1, 2, 5, 10].map((m) => m * base).find((t) => t >= raw) || raw;
  }

  window.AutoGLMPlan = { create: (container) => new PlanView(container), criticalPath, planEdges, maxParallel, jsonTree };
})();
