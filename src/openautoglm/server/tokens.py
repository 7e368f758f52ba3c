"""JWTs: verifying the configured issuer's (:class:`JWTVerifier`), and issuing short-lived ones of our own to API-key
holders (:class:`TokenIssuer`, behind ``POST /v1/oauth/token``, OAuth 2 client credentials).

An issued token names the key it was issued for in its ``cid`` claim and is verified with the gateway's own key
only (never with ``jwt_key``, so another issuer cannot mint one). It lives at most 15 minutes (``token_ttl_s``); a
client refreshes it by asking again. It stops working at once when its ``jti`` is revoked (``POST
/v1/tokens/revoked``, shared through the store) or when its key is revoked.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from ..config import GatewaySettings
from ..errors import AuthError, ConfigError

# The claim of an issued token that names the API key (its id) the token was issued for.
CLIENT_CLAIM = "cid"


def read_key(value: str | None) -> str:
    """A key given in the settings as PEM text, a secret, or the path of a file holding either."""
    key = value or ""
    if key and not key.lstrip().startswith("-----") and len(key) < 4096 and Path(key).is_file():
        key = Path(key).read_text(encoding="utf-8")
    return key


class JWTVerifier:
    def __init__(self, algorithms: list[str], key: str, issuer: str, audience: str) -> None:
        self.algorithms = list(algorithms)
        if not self.algorithms or any(a.lower() == "none" for a in self.algorithms):
            raise ConfigError("gateway.jwt_algorithms must name real algorithms (e.g. RS256); 'none' is refused")
        families = {a[:2].upper() for a in self.algorithms}
        if "HS" in families and len(families) > 1:
            # One key cannot be both an HMAC secret and a public key; mixing them invites key confusion.
            raise ConfigError("gateway.jwt_algorithms mixes HS* with public-key algorithms; choose one family")
        self.issuer = issuer
        self.audience = audience
        self.key = key

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> JWTVerifier:
        """The verifier of tokens from the configured issuer (``jwt_key``)."""
        return cls(settings.jwt_algorithms, read_key(settings.jwt_key), settings.jwt_issuer, settings.jwt_audience)

    def decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("malformed token") from exc
        if header.get("alg") not in self.algorithms:
            raise AuthError("token algorithm not accepted")
        try:
            return jwt.decode(
                token, self.key, algorithms=self.algorithms, audience=self.audience, issuer=self.issuer,
                options={"require": ["exp", "iss", "aud", "sub", "jti"], "verify_signature": True},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("token not valid yet") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}") from exc


class TokenIssuer:
    """Signs tokens for API-key holders and verifies them; built only when a signing key is configured."""

    def __init__(self, algorithm: str, signing_key: str, issuer: str, audience: str, ttl_s: int) -> None:
        self.algorithm = algorithm
        self.signing_key = signing_key
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        self.verifier = JWTVerifier([algorithm], _verification_key(algorithm, signing_key), issuer, audience)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> TokenIssuer | None:
        """The issuer the settings describe, or None when no key can sign (token issuing is off)."""
        algorithm = settings.jwt_algorithms[0] if settings.jwt_algorithms else "RS256"
        key = read_key(settings.token_signing_key)
        if not key and algorithm.upper().startswith("HS"):
            key = read_key(settings.jwt_key)  # an HMAC secret both signs and verifies
        if not key:
            return None
        return cls(algorithm, key, settings.jwt_issuer, settings.jwt_audience, settings.token_ttl_s)

    def issue(self, key_id: str, subject: str, role: str) -> tuple[str, dict[str, Any]]:
        """A signed token for the key ``key_id`` and its claims."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": subject, "role": role, CLIENT_CLAIM: key_id,
                  "jti": uuid.uuid4().hex, "iat": now, "exp": now + self.ttl_s}
        return jwt.encode(claims, self.signing_key, algorithm=self.algorithm), claims

    def decode(self, token: str) -> dict[str, Any]:
        """The claims of a token we issued (AuthError for anything else)."""
        claims = self.verifier.decode(token)
        if not isinstance(claims.get(CLIENT_CLAIM), str):
            raise AuthError("invalid token: not one issued by this gateway")
        return claims


def issued_here(token: str) -> bool:
    """Whether ``token`` claims (unverified) to be one we issued: it then must verify with our own key."""
    try:
        return CLIENT_CLAIM in jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False


def _verification_key(algorithm: str, signing_key: str) -> str:
    if algorithm.upper().startswith("HS"):
        return signing_key
    try:
        private = serialization.load_pem_private_key(signing_key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"gateway.token_signing_key must be a PEM private key for {algorithm}") from exc
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()
