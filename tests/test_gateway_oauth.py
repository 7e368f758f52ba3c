"""`POST /v1/oauth/token` (OAuth 2 client credentials): an API key's id and secret in, a signed JWT of at most 15
minutes out that acts as the key; refused once expired, once its jti is revoked, once its key is revoked; and
nothing but our own signature makes a token act as a key."""

from __future__ import annotations

import base64
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
from pydantic import ValidationError

from gateway_support import bearer, database, gateway, make_glm, new_key, wait_for_status
from openautoglm.config import GatewaySettings
from openautoglm.server.keys import KeyRing

ISS, AUD = "openautoglm", "openautoglm-gateway"


def _pem_pair() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private_pem, public_pem


OURS, _ = _pem_pair()
EXTERNAL_PRIVATE, EXTERNAL_PUBLIC = _pem_pair()  # another issuer the gateway also trusts, for its own users


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def ask(http: httpx.Client, key: str, **changes: Any) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": key.split("_")[1], "client_secret": key.split("_", 2)[2]}
    form.update(changes)
    return http.post("/v1/oauth/token", data={k: v for k, v in form.items() if v is not None})


def test_a_token_acts_as_its_key_for_at_most_15_minutes_until_revoked(db_url: str) -> None:
    glm = make_glm(db_url, jwt_algorithms=["RS256"], jwt_key=EXTERNAL_PUBLIC, token_signing_key=OURS)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        key = new_key(glm, "user", owner="alice")
        issued = ask(http, key)
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 900 and body["scope"] == "user"
        assert issued.headers["cache-control"] == "no-store"
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 900 and claims["cid"] == key.split("_")[1]
        token = bearer(body["access_token"])

        # It acts as the key: the same owner and role, tasks shared both ways.
        task_id = http.post("/v1/tasks", json={"request": "write a haiku"}, headers=token).json()["id"]
        assert wait_for_status(http, task_id, token)["owner"] == "key:alice"
        assert [t["id"] for t in http.get("/v1/tasks", headers=bearer(key)).json()["data"]] == [task_id]
        assert http.get("/v1/keys", headers=token).status_code == 403  # a user's token is a user

        # HTTP Basic works too (RFC 6749 §2.3.1), and asking again is how a client refreshes.
        basic = base64.b64encode(f"{key.split('_')[1]}:{key}".encode()).decode()
        again = http.post("/v1/oauth/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"})
        assert again.status_code == 200 and again.json()["jti"] != body["jti"]

        # Revoked by its jti: refused at once, the other token still works.
        admin = bearer(new_key(glm, "admin"))
        assert http.post("/v1/tokens/revoked", json={"jti": body["jti"]}, headers=admin).status_code == 201
        refused = http.get("/v1/tasks", headers=token)
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
        other = bearer(again.json()["access_token"])
        assert http.get("/v1/tasks", headers=other).status_code == 200
        # Revoking the key ends every token issued for it, and it gets no new one.
        KeyRing(glm.store).revoke(key.split("_")[1])
        assert http.get("/v1/tasks", headers=other).status_code == 401
        assert ask(http, key).status_code == 401


def test_an_issued_token_is_refused_after_it_expires(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(token_ttl_s=901)  # longer than 15 minutes cannot be configured
    glm = make_glm(f"sqlite:///{tmp_path / 'gateway.db'}", jwt_algorithms=["HS256"], jwt_key="k" * 64,
                   token_ttl_s=1)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        issued = ask(http, new_key(glm, "viewer")).json()
        token = bearer(issued["access_token"])
        assert issued["expires_in"] == 1 and http.get("/v1/tasks", headers=token).status_code == 200
        time.sleep(1 + 5 + 1)  # its lifetime, the verifier's 5 s leeway for clock skew, a margin
        expired = http.get("/v1/tasks", headers=token)
        assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


def test_token_requests_and_forged_tokens_are_refused(db_url: str) -> None:
    glm = make_glm(db_url, jwt_algorithms=["RS256"], jwt_key=EXTERNAL_PUBLIC, token_signing_key=OURS)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        key, other = new_key(glm, "admin", owner="root"), new_key(glm, "user")
        refusals = {
            "wrong secret": (ask(http, key, client_secret="not-the-secret"), 401, "invalid_client"),
            "another key's secret": (ask(http, key, client_secret=other.split("_", 2)[2]), 401, "invalid_client"),
            "another key, whole": (ask(http, key, client_secret=other), 401, "invalid_client"),
            "unknown client": (ask(http, key, client_id="000000000000"), 401, "invalid_client"),
            "no secret": (ask(http, key, client_secret=None), 401, "invalid_client"),
            "another grant": (ask(http, key, grant_type="password"), 400, "unsupported_grant_type"),
            "JSON body": (http.post("/v1/oauth/token", json={"grant_type": "client_credentials"}), 400,
                          "invalid_request"),
        }
        for name, (response, status, error_type) in refusals.items():
            assert response.status_code == status, (name, response.text)
            assert response.json()["error"]["type"] == error_type, name
        admin_id = key.split("_")[1]
        now = int(time.time())
        forged = {"iss": ISS, "aud": AUD, "sub": "key:root", "role": "admin", "cid": admin_id,
                  "jti": uuid.uuid4().hex, "iat": now, "exp": now + 600}
        # The other issuer is trusted for its own users, but a token naming a key must carry our signature.
        for token in (jwt.encode(forged, EXTERNAL_PRIVATE, algorithm="RS256"),
                      jwt.encode(forged, "k" * 64, algorithm="HS256")):
            response = http.get("/v1/keys", headers=bearer(token))
            assert response.status_code == 401, response.text
        # Without cid it is the other issuer's user whose subject happens to read "key:root": not our key.
        task_id = http.post("/v1/tasks", json={"request": "write a haiku"}, headers=bearer(key)).json()["id"]
        claims = {k: v for k, v in forged.items() if k != "cid"} | {"role": "user"}
        external = bearer(jwt.encode(claims, EXTERNAL_PRIVATE, algorithm="RS256"))
        seen = http.get("/v1/tasks", headers=external)
        assert seen.status_code == 200 and seen.json()["data"] == []
        assert http.get(f"/v1/tasks/{task_id}", headers=external).status_code == 404


def test_token_issuing_is_off_without_a_signing_key(tmp_path: Path) -> None:
    glm = make_glm(f"sqlite:///{tmp_path / 'gateway.db'}", jwt_algorithms=["RS256"], jwt_key=EXTERNAL_PUBLIC)
    with gateway(glm) as server, httpx.Client(base_url=server.url, timeout=20) as http:
        response = ask(http, new_key(glm, "user"))
        assert response.status_code == 400 and "token_signing_key" in response.json()["error"]["message"]
