"""``POST /v1/oauth/token``: OAuth 2 client credentials (RFC 6749 §4.4). An API key's id and secret in (form fields
``client_id``/``client_secret`` or HTTP Basic), a signed JWT of at most 15 minutes out, acting as that key (its
owner, its role). A client refreshes by asking again; ``POST /v1/tokens/revoked`` revokes one by its ``jti``, and
revoking the key ends all of its tokens at once. Errors keep the gateway's JSON shape, with the RFC's error code
as ``error.type`` (``invalid_request``, ``invalid_client``, ``unsupported_grant_type``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ...errors import ConfigError, InvalidClient, OAuthRequestError
from ..auth import principal_name
from ..deps import Gateway, gateway, spend_failed_attempt
from ..keys import PREFIX, split_key

router = APIRouter(tags=["auth"])

FORM_TYPE = "application/x-www-form-urlencoded"
_FORM_SCHEMA = {"requestBody": {"required": True, "content": {FORM_TYPE: {"schema": {
    "type": "object", "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_id": {"type": "string", "maxLength": 64, "description": "the API key's id (agk_<id>_<secret>)"},
        "client_secret": {"type": "string", "maxLength": 256,
                          "description": "the key's secret (the part after the id), or the whole key"},
    }}}}}}


@router.post("/v1/oauth/token", summary="Exchange an API key for a short-lived token (OAuth 2 client credentials)",
             openapi_extra=_FORM_SCHEMA)
async def issue_token(request: Request, gw: Gateway = Depends(gateway)) -> JSONResponse:
    issuer = gw.auth.issuer
    if issuer is None:
        raise ConfigError("token issuing is off: set gateway.token_signing_key (or jwt_algorithms HS256 with jwt_key)")
    form = await _form(request)
    if form.get("grant_type") != "client_credentials":
        raise OAuthRequestError("grant_type must be client_credentials", "unsupported_grant_type")
    try:
        client_id, secret = _client(form, request.headers.get("authorization"))
        key = secret if secret.startswith(PREFIX) else f"{PREFIX}{client_id}_{secret}"
        record = await asyncio.to_thread(gw.keyring.verify, key) if split_key(key) == client_id else None
        if record is None:
            raise InvalidClient("unknown client, wrong secret, or a revoked key")
    except InvalidClient:
        await spend_failed_attempt(gw, request)  # guessing secrets here is rate-limited like anywhere else
        raise
    await gw.limiter.acquire(f"key:{record.id}")  # the key's own rate limit, as for its other requests
    token, claims = await asyncio.to_thread(issuer.issue, record.id, principal_name("key", record.owner),
                                            record.role)
    return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": issuer.ttl_s,
                         "scope": record.role, "jti": claims["jti"]},
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise OAuthRequestError(f"send the token request as {FORM_TYPE} (RFC 6749)")
    try:
        text = (await request.body()).decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=16)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthRequestError("the token request is not a valid form") from exc
    if any(len(values) > 1 for values in fields.values()):
        raise OAuthRequestError("a parameter is repeated")
    return {name: values[0] for name, values in fields.items()}


def _client(form: dict[str, Any], authorization: str | None) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic or the form; the RFC allows one of the two, not both."""
    basic = None
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidClient("malformed HTTP Basic credentials") from exc
        user, sep, password = decoded.partition(":")
        if not sep:
            raise InvalidClient("malformed HTTP Basic credentials")
        basic = (unquote(user), unquote(password))  # RFC 6749 §2.3.1 form-encodes both before Basic
    in_form = "client_id" in form or "client_secret" in form
    if basic and in_form:
        raise OAuthRequestError("send the client's credentials either with HTTP Basic or in the form, not both")
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    if not client_id or not secret:
        raise InvalidClient("client_id and client_secret are required (the API key's id and secret)")
    return client_id, secret
