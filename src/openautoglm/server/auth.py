"""Who is calling, and may they do this?

The caller proves who they are with ``Authorization: Bearer <credential>``: an API key (``agk_...``, looked up by
its hash) or a JWT that we can verify. The role comes only from the key's record or from a claim inside a token
whose signature, issuer and audience check out; anything else a client sends about itself (an ``X-Role`` header, a
``role`` field in a body, a claim in an unverifiable token) is ignored.

JWTs: the accepted algorithms are fixed by configuration and the token's header never chooses (so ``alg: none`` in
any spelling and HS256-signed-with-our-public-key are refused); ``exp``, ``iss``, ``aud``, ``sub`` and ``jti`` are
required, ``nbf`` is honoured, and a revoked ``jti`` is refused.

Roles, each including the ones below it: ``viewer`` (read models, nodes and its own tasks), ``user`` (also run
chats and tasks, give feedback), ``operator`` (also manage nodes, approvals, metrics, and see everyone's tasks),
``admin`` (also keys and token revocation).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from ..config import GatewaySettings
from ..errors import AuthError, ConfigError, ForbiddenError
from .keys import PREFIX, ROLES, KeyRing

RANK = {role: i for i, role in enumerate(ROLES)}
# A verified key stays cached this long; a revocation made through this process applies at once, one made through
# another replica within this many seconds.
KEY_CACHE_TTL_S = 10.0


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # owner of the tasks this caller creates
    role: str
    via: str  # "key", "jwt" or "anonymous" (auth disabled)
    key_id: str | None = None

    def allows(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    @property
    def sees_everything(self) -> bool:
        """Operators and admins may read every task; users and viewers only their own."""
        return self.allows("operator")

    @property
    def owner_filter(self) -> str | None:
        return None if self.sees_everything else self.subject

    @property
    def limit_key(self) -> str:
        return f"{self.via}:{self.key_id or self.subject}"


ANONYMOUS = Principal("anonymous", "admin", "anonymous")


class JWTVerifier:
    def __init__(self, settings: GatewaySettings) -> None:
        self.algorithms = list(settings.jwt_algorithms)
        if not self.algorithms or any(a.lower() == "none" for a in self.algorithms):
            raise ConfigError("gateway.jwt_algorithms must name real algorithms (e.g. RS256); 'none' is refused")
        families = {a[:2].upper() for a in self.algorithms}
        if "HS" in families and len(families) > 1:
            # One key cannot be both an HMAC secret and a public key; mixing them invites key confusion.
            raise ConfigError("gateway.jwt_algorithms mixes HS* with public-key algorithms; choose one family")
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        key = settings.jwt_key or ""
        if key and not key.lstrip().startswith("-----") and len(key) < 4096 and Path(key).is_file():
            key = Path(key).read_text(encoding="utf-8")
        self.key = key

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


class Authenticator:
    def __init__(self, keyring: KeyRing, settings: GatewaySettings, required: bool = True) -> None:
        self.keyring = keyring
        self.required = required
        self.jwt = JWTVerifier(settings) if settings.jwt_key else None
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            if not self.required:
                return ANONYMOUS
            raise AuthError("missing credentials: send 'Authorization: Bearer <API key or token>' "
                            "(an admin creates keys with `autoglm keys create --role user`)")
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthError("use 'Authorization: Bearer <API key or token>'")
        if credential.startswith(PREFIX):
            return await self._key(credential)
        if credential.count(".") == 2 and self.jwt is not None:
            return await self._token(credential)
        raise AuthError("invalid credentials")

    async def _key(self, key: str) -> Principal:
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        record = await asyncio.to_thread(self.keyring.verify, key)
        if record is None:
            self._cache.pop(key, None)
            raise AuthError("invalid or revoked API key")
        principal = Principal(record.owner, record.role, "key", record.id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (principal, now + KEY_CACHE_TTL_S)
        return principal

    async def _token(self, token: str) -> Principal:
        assert self.jwt is not None
        claims = self.jwt.decode(token)
        role = claims.get("role", "user")
        if role not in RANK:
            raise AuthError(f"token role '{role}' is not one of {', '.join(ROLES)}")
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub:
            raise AuthError("token subject must be a non-empty string")
        if await asyncio.to_thread(self.keyring.token_revoked, str(claims["jti"])):
            raise AuthError("token revoked")
        return Principal(sub, role, "jwt")

    def forget(self, key_id: str) -> None:
        """Drop cached verifications of a key (after revoking it)."""
        for key, (principal, _) in list(self._cache.items()):
            if principal.key_id == key_id:
                self._cache.pop(key, None)


def require(principal: Principal, role: str) -> None:
    if not principal.allows(role):
        raise ForbiddenError(f"this needs the '{role}' role; your credential has '{principal.role}'")
