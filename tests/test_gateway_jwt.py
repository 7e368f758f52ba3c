"""JWTs: only tokens we can verify, with the algorithms we chose, within their time, for us, and not revoked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway_support import bearer, database, gateway, make_glm, new_key

ISS, AUD = "openautoglm", "openautoglm-gateway"


def _pair() -> tuple[Any, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


PRIVATE, PUBLIC = _pair()
OTHER_PRIVATE, _ = _pair()


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "dora", "role": "user", "iss": ISS, "aud": AUD, "iat": now, "exp": now + 600,
            "jti": uuid.uuid4().hex}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = None) -> str:
    return jwt.encode(payload, key or PRIVATE, algorithm="RS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(alg: str, payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{b64(json.dumps(payload).encode())}."


def hs256_with_public_key(payload: dict[str, Any]) -> str:
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    mac = hmac.new(PUBLIC.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def tampered() -> str:
    head, _, sig = sign(claims()).split(".")
    return f"{head}.{b64(json.dumps(claims(role='admin', sub='root')).encode())}.{sig}"


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, httpx.Client]]:
    with database(request.param, tmp_path) as url:
        glm = make_glm(url, jwt_algorithms=["RS256"], jwt_key=PUBLIC)
        with gateway(glm) as server, httpx.Client(base_url=server.url) as http:
            yield glm, http


def test_a_valid_token_works_and_its_role_and_subject_come_from_the_token(served: tuple[Any, httpx.Client]) -> None:
    _, http = served
    token = sign(claims(role="viewer"))
    assert http.get("/v1/tasks", headers=bearer(token)).status_code == 200
    # The role is the verified claim's: a viewer token cannot run chats, whatever the headers say.
    denied = http.post("/v1/chat/completions", headers={**bearer(token), "X-Role": "admin"},
                       json={"model": "autoglm", "messages": [{"role": "user", "content": "hi"}]})
    assert denied.status_code == 403


ATTACKS = {
    "alg none": lambda: unsigned("none", claims(role="admin")),
    "alg None": lambda: unsigned("None", claims(role="admin")),
    "alg NONE": lambda: unsigned("NONE", claims(role="admin")),
    "alg nOnE": lambda: unsigned("nOnE", claims(role="admin")),
    "HS256 signed with the RSA public key": lambda: hs256_with_public_key(claims(role="admin")),
    "signed with another key": lambda: sign(claims(role="admin"), OTHER_PRIVATE),
    "tampered payload": tampered,
    "expired": lambda: sign(claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
    "nbf in the future": lambda: sign(claims(nbf=int(time.time()) + 3600)),
    "missing exp": lambda: sign(claims(exp=None)),
    "wrong issuer": lambda: sign(claims(iss="someone-else")),
    "wrong audience": lambda: sign(claims(aud="another-service")),
    "missing jti": lambda: sign(claims(jti=None)),
    "garbage": lambda: "eyJhbGciOi.not-a-token.at-all",
    # Claims of the wrong shape, signed by the real issuer: refused as tokens, never a crash.
    "role is a list": lambda: sign(claims(role=["admin"])),
    "role is an object": lambda: sign(claims(role={"name": "admin"})),
    "role unknown": lambda: sign(claims(role="root")),
    "sub is a number": lambda: sign(claims(sub=12345)),
    "sub is a list": lambda: sign(claims(sub=["dora"])),
    "sub is empty": lambda: sign(claims(sub="")),
    "sub too long": lambda: sign(claims(sub="d" * 300)),
    "sub is not valid text": lambda: sign(claims(sub="dora\ud800")),
    "jti is a number": lambda: sign(claims(jti=7)),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_jwt_attacks_are_refused(attack: str, served: tuple[Any, httpx.Client]) -> None:
    _, http = served
    response = http.get("/v1/tasks", headers=bearer(ATTACKS[attack]()))
    assert response.status_code == 401, attack
    assert response.json()["error"]["type"] == "authentication_error"


def test_a_revoked_jti_is_refused(served: tuple[Any, httpx.Client]) -> None:
    glm, http = served
    payload = claims()
    token = sign(payload)
    assert http.get("/v1/tasks", headers=bearer(token)).status_code == 200
    viewer = bearer(new_key(glm, "viewer"))
    assert http.post("/v1/tokens/revoked", json={"jti": payload["jti"]}, headers=viewer).status_code == 403
    admin = bearer(new_key(glm, "admin"))
    revoked = http.post("/v1/tokens/revoked", json={"jti": payload["jti"], "expires_at": payload["exp"]},
                        headers=admin)
    assert revoked.status_code == 201
    response = http.get("/v1/tasks", headers=bearer(token))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]
    assert http.get("/v1/tasks", headers=bearer(sign(claims()))).status_code == 200


def test_no_token_subject_can_name_an_api_keys_owner(served: tuple[Any, httpx.Client]) -> None:
    glm, http = served
    key = new_key(glm, "user")  # owner defaults to the key's id
    key_id = key.split("_")[1]
    made = http.post("/v1/tasks", json={"request": "write a haiku"}, headers=bearer(key)).json()["id"]
    assert http.get(f"/v1/tasks/{made}", headers=bearer(key)).status_code == 200
    # Key ids are not secret: every spelling of the key's principal, as a token's subject, stays a token's.
    for sub in (key_id, f"key-{key_id}", f"key:{key_id}", f"key:{key_id}:x"):
        token = bearer(sign(claims(sub=sub, role="user")))
        listed = http.get("/v1/tasks", headers=token)
        assert listed.status_code == 200 and listed.json()["data"] == [], sub
        assert http.get(f"/v1/tasks/{made}", headers=token).status_code == 404, sub
    own = http.post("/v1/tasks", json={"request": "write a haiku"}, headers=bearer(sign(claims(sub="dora"))))
    task = http.get(f"/v1/tasks/{own.json()['id']}", headers=bearer(sign(claims(sub="dora")))).json()
    assert task["owner"] == f"jwt:{ISS}:dora"
    assert task["id"] not in [t["id"] for t in http.get("/v1/tasks", headers=bearer(key)).json()["data"]]
