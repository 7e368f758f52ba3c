"""Reports over HTTP, for the console: the definitions, schedules and runs (viewers), running one now (operators),
and viewing a run's HTML. An iframe cannot send the API key, so viewing takes two calls: an authenticated
``POST /v1/reports/view`` seals the run's reference and a five-minute expiry with the store's key, and
``GET /v1/reports/view?t=...`` serves that run's file under its own strict policy (no scripts, sandboxed, images
only as the data URIs the report embeds)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ...errors import AuthError, NotFound
from ..auth import Principal
from ..deps import Gateway, caller, gateway

router = APIRouter(tags=["reports"])
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,127}/\d{8}T\d{6}-\d{3}$")
VIEW_TTL_S = 300
REPORT_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src 'self'; sandbox; "
              "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: str | None = Field(default=None, max_length=100)


class ViewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(max_length=200)


def _ref(gw: Gateway, html: str | None) -> str | None:
    """A run's folder relative to the reports' output root: ``<name>/<stamp>``, or None for one elsewhere."""
    if not html:
        return None
    try:
        ref = Path(html).parent.relative_to(gw.glm.reports.out_root()).as_posix()
    except ValueError:
        return None
    return ref if REF.match(ref) else None


@router.get("/v1/reports", summary="Report definitions, schedules and the latest scheduled runs")
async def reports(gw: Gateway = Depends(gateway), _: Principal = Depends(caller("viewer"))) -> dict[str, Any]:
    import asyncio

    glm = gw.glm
    definitions = await asyncio.to_thread(lambda: [d.summary() for d in glm.reports.library.all()])
    schedules = await asyncio.to_thread(glm.store.schedules, "report")
    runs = await asyncio.to_thread(glm.store.report_runs, 50)
    return {"reports": definitions, "schedules": [s.public() for s in schedules],
            "runs": [{**{k: v for k, v in r.public().items() if k != "result"},
                      "report": (r.result or {}).get("report"), "ref": _ref(gw, (r.result or {}).get("html"))}
                     for r in runs]}


@router.post("/v1/reports/{name}/run", summary="Run a report now: report.html, report.pdf and the key figures")
async def run_report(name: str, body: RunIn = Body(default_factory=RunIn), gw: Gateway = Depends(gateway),
                     _: Principal = Depends(caller("operator"))) -> dict[str, Any]:
    output = await gw.glm.reports.run(name, body.period)
    return {**output.to_dict(), "ref": _ref(gw, str(output.html_path))}


@router.post("/v1/reports/view", summary="A short-lived link that shows a run's HTML (for an iframe)")
async def view_link(body: ViewIn, gw: Gateway = Depends(gateway),
                    _: Principal = Depends(caller("viewer"))) -> dict[str, Any]:
    if not REF.match(body.ref) or not (gw.glm.reports.out_root() / body.ref / "report.html").is_file():
        raise NotFound(f"no report run '{body.ref}'")
    token = gw.glm.store.sealer.seal(json.dumps({"ref": body.ref, "exp": time.time() + VIEW_TTL_S}))
    return {"url": f"/v1/reports/view?t={token}", "expires_in": VIEW_TTL_S}


@router.get("/v1/reports/view", summary="A run's HTML, for a link made by POST /v1/reports/view")
async def view(t: str = Query(max_length=1000), gw: Gateway = Depends(gateway)) -> Response:
    try:
        claim = json.loads(gw.glm.store.sealer.open(t))
    except Exception:  # a token we did not seal, or sealed under a retired key
        raise AuthError("this report link is not valid; open the report again from the console") from None
    if not isinstance(claim, dict) or claim.get("exp", 0) < time.time() or not REF.match(str(claim.get("ref"))):
        raise AuthError("this report link has expired; open the report again from the console")
    path = gw.glm.reports.out_root() / str(claim["ref"]) / "report.html"
    if not path.is_file():
        raise NotFound("the report's files are gone")
    return Response(path.read_bytes(), media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff",
                             "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})
