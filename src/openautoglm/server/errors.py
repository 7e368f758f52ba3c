"""Every error leaves the gateway as JSON ``{"error": {"type", "message"}}``, never as a stack trace.

On the OpenAI-compatible routes (``/v1/chat/...``, ``/v1/models``) the body also carries ``param`` and ``code``, the
shape the official clients parse. Errors from the project's tree keep their ``http_status`` and ``error_type``.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import AutoGLMError

log = structlog.get_logger("openautoglm.gateway")

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
    503: "service_unavailable",
    504: "timeout",
}


def is_openai_path(path: str) -> bool:
    return path.startswith(("/v1/chat", "/v1/models", "/v1/completions"))


def error_body(status: int, error_type: str, message: str, path: str = "",
               param: str | None = None, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if is_openai_path(path):
        error["param"] = param
        error["code"] = code or error_type
    return {"error": error}


def error_response(status: int, error_type: str, message: str, path: str = "",
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status, error_type, message, path, **extra), status_code=status, headers=headers)


def type_for_status(status: int) -> str:
    return _STATUS_TYPES.get(status, "internal_error" if status >= 500 else "invalid_request_error")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AutoGLMError)
    async def _autoglm(request: Request, exc: AutoGLMError) -> JSONResponse:
        status = exc.http_status
        if status >= 500:
            log.warning("request_failed", path=request.url.path, error_type=exc.error_type, error=str(exc))
        headers = getattr(exc, "headers", None)
        return error_response(status, exc.error_type, str(exc) or exc.error_type, request.url.path, headers=headers)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, type_for_status(exc.status_code), message, request.url.path,
                              headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        param = None
        for err in exc.errors()[:10]:
            loc = [str(p) for p in err.get("loc", ()) if p != "body"]
            where = ".".join(loc) or "body"
            param = param or where
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        message = "invalid request: " + "; ".join(problems)
        return error_response(422, "invalid_request_error", message, request.url.path, param=param)
