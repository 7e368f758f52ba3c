"""``autoglm trace ID --html FILE``: a task's plan graph and timeline as one self-contained HTML file to share.

The page is the console's own drawing (``server/static/plan-view.js`` with the vendored ``dagre.min.js`` and the
console's CSS), inlined with the task's trace as JSON, so it opens offline and from ``file://``. A
Content-Security-Policy in the page allows only these inline scripts and styles (by hash) and nothing from the
network; the trace is data in a ``<script type="application/json">`` that no script evaluates.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from importlib import resources
from typing import Any

from ..events import Event

SCRIPTS = ("dagre.min.js", "plan-view.js", "trace-page.js")
STYLES = ("console.css", "plan-view.css")


def _static(name: str) -> str:
    # Through the top package, not openautoglm.server: importing that needs the gateway's extra.
    return resources.files("openautoglm").joinpath("server", "static", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _inline(tag: str, text: str) -> str:
    if f"</{tag}" in text.lower():
        raise ValueError(f"an inlined file holds '</{tag}', which would end the element early")
    return f"<{tag}>{text}</{tag}>"


def _json_for_script(value: Any) -> str:
    # "<" only occurs inside JSON strings, where \u003c means the same; so no "</script" or "<!--" can appear.
    return json.dumps(value, ensure_ascii=False, default=str).replace("<", "\\u003c")


def trace_page(task_id: str, events: list[Event]) -> str:
    """The HTML of one page drawing ``events`` (a task's trace, in order)."""
    scripts = [_static(name) for name in SCRIPTS]
    style = "\n".join(_static(name) for name in STYLES)
    csp = ("default-src 'none'; script-src " + " ".join(_sha256(s) for s in scripts) + "; style-src "
           + _sha256(style) + "; img-src data:; base-uri 'none'; form-action 'none'; "
           "require-trusted-types-for 'script'; trusted-types 'none'")
    trace = {"task_id": task_id, "events": [e.to_dict() for e in events]}
    title = escape(f"Trace {task_id}")
    return "\n".join([
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp, quote=False)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{title}</title>",
        _inline("style", style),
        "</head>",
        "<body>",
        '<main><section class="card">',
        f'<div class="row spread"><h2>{title}</h2><span id="trace-state" class="status"></span></div>',
        '<p id="trace-request" class="quote" hidden></p>',
        '<div id="trace-plan"></div>',
        "</section></main>",
        f'<script type="application/json" id="trace-data">{_json_for_script(trace)}</script>',
        *(_inline("script", s) for s in scripts),
        "</body>",
        "</html>",
        "",
    ])
