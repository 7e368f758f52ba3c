"""The web console: ``GET /console`` and its few static files (HTML, JS, CSS, icon), served by the gateway itself.

``plan-view.js`` draws a task's plan and timeline; ``autoglm trace ID --html`` inlines the same file
(:mod:`openautoglm.cli.trace_page`).

The page holds no data, so it needs no credentials; every API call it makes sends the pasted key as a Bearer
token. Its responses carry a strict Content-Security-Policy (scripts and styles only from this origin, no inline
script, no framing, Trusted Types required so no string can reach an HTML sink) — the console renders every value
with ``textContent``, so even a hostile task text stays text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from ..errors import NotFound

router = APIRouter(tags=["console"], include_in_schema=False)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
       "require-trusted-types-for 'script'; trusted-types 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # The files change with the package; revalidating is cheap on loopback and never serves a stale script.
    "Cache-Control": "no-cache",
}
# The only files served: a fixed list, so no path from the URL ever reaches the file system.
FILES = {
    "console.js": "text/javascript; charset=utf-8",
    "tab-kit.js": "text/javascript; charset=utf-8",
    "support-inbox.js": "text/javascript; charset=utf-8",
    "reports.js": "text/javascript; charset=utf-8",
    "policies.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "plan-view.js": "text/javascript; charset=utf-8",
    "plan-view.css": "text/css; charset=utf-8",
    "dagre.min.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}


@cache
def _read(name: str) -> bytes:
    return resources.files("openautoglm.server").joinpath("static", name).read_bytes()


def _respond(name: str, media_type: str) -> Response:
    return Response(_read(name), media_type=media_type, headers=SECURITY_HEADERS)


@router.api_route("/console", methods=["GET", "HEAD"])
async def console_page() -> Response:
    return _respond("console.html", "text/html; charset=utf-8")


@router.api_route("/console/", methods=["GET", "HEAD"])
async def console_slash() -> RedirectResponse:
    return RedirectResponse("/console", status_code=308)


@router.api_route("/console/{name}", methods=["GET", "HEAD"])
async def console_file(name: str) -> Response:
    media_type = FILES.get(name)
    if media_type is None:
        raise NotFound(f"the console has no file '{name}'")
    return _respond(name, media_type)
