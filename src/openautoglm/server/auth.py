"""Who is calling, and may they do this?

The caller proves who they are with ``Authorization: Bearer <credential>``: an API key (``agk_...``, looked up by
its hash) or a JWT that we can verify. The role comes only from the key's record or from a claim inside a token
whose signature, issuer and audience check out; anything else a client sends about itself (an ``X-Role`` header, a
``role`` field in a body, a claim in an unverifiable token) is ignored.

JWTs: the accepted algorithms are fixed by configuration and the token's header never chooses (so ``alg: none`` in
any spelling and HS256-signed-with-our-public-key are refused); ``exp``, ``iss``, ``aud``, ``sub`` and ``jti`` are
required, ``nbf`` is honoured, and a revoked ``jti`` is refused. The claims we read are typed (:class:`TokenClaims`):
a claim of the wrong shape (``"role": ["admin"]``, a numeric ``sub``) is a 401, never a crash.

Principals live in one name space whose names carry their kind (:func:`principal_name`): ``key:<owner>`` for an API
key (its owner label, by default the key's id), ``jwt:<iss>:<sub>`` for a token, ``anonymous`` when auth is off. The
name is the owner of the tasks, sessions and feedback a caller creates, so no token subject can name a key's owner
(``sub: "key-1a2b"`` is ``jwt:<iss>:key-1a2b``) and read its tasks.

A key is checked against the store on every request (one primary-key lookup): a revocation, from this process or any
other, applies to the next request. A token the gateway issued to a key (``POST /v1/oauth/token``, see
:mod:`.tokens`) verifies with the gateway's own key only and acts as that key while the key and the token last.

Roles, each including the ones below it: ``viewer`` (read models, nodes and its own tasks), ``user`` (also run
chats and tasks, give feedback), ``operator`` (also manage nodes, approvals, metrics, and see everyone's tasks),
``admin`` (also keys and token revocation).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..config import GatewaySettings
from ..encodable import is_encodable
from ..errors import AuthError, ForbiddenError
from .keys import PREFIX, ROLES, KeyRing
from .tokens import JWTVerifier, TokenIssuer, issued_here

RANK = {role: i for i, role in enumerate(ROLES)}
Kind = Literal["key", "jwt", "anonymous"]
# The owner columns (tasks, sessions, feedback) hold 128 characters.
MAX_PRINCIPAL_NAME = 128


def principal_name(kind: Kind, *parts: str) -> str:
    """The one name of a principal: its kind, then what identifies it within the kind (``key:alice``,
    ``jwt:<iss>:<sub>``). Names of different kinds never collide, whatever the parts hold."""
    return ":".join((kind, *parts)) if parts else kind


class TokenClaims(BaseModel):
    """The claims of a verified JWT that we act on, each of the one type it may have (strict: no coercion)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    iss: str = Field(min_length=1, max_length=256)
    sub: str = Field(min_length=1, max_length=256)
    jti: str = Field(min_length=1, max_length=128)
    role: str = "user"

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str) -> str:
        if role not in ROLES:
            raise ValueError("not a role")
        return role


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # the principal's name (see principal_name): owner of the tasks this caller creates
    role: str
    via: Kind
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


ANONYMOUS = Principal(principal_name("anonymous"), "admin", "anonymous")


class Authenticator:
    def __init__(self, keyring: KeyRing, settings: GatewaySettings, required: bool = True) -> None:
        self.keyring = keyring
        self.required = required
        self.jwt = JWTVerifier.from_settings(settings) if settings.jwt_key else None
        self.issuer = TokenIssuer.from_settings(settings)

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
        if credential.count(".") == 2:
            if self.issuer is not None and issued_here(credential):
                return await self._issued_token(credential)
            if self.jwt is not None:
                return await self._token(credential)
        raise AuthError("invalid credentials")

    async def _key(self, key: str) -> Principal:
        # No cache on purpose: the lookup is one primary-key read, and a cache would keep a revoked key alive.
        record = await asyncio.to_thread(self.keyring.verify, key)
        if record is None:
            raise AuthError("invalid or revoked API key")
        return Principal(principal_name("key", record.owner), record.role, "key", record.id)

    async def _token(self, token: str) -> Principal:
        assert self.jwt is not None
        raw = self.jwt.decode(token)
        try:
            claims = TokenClaims.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            claim = ".".join(str(p) for p in err["loc"])
            raise AuthError(f"token claim '{claim}' is not valid: {err['msg']} "
                            f"(role is one of {', '.join(ROLES)}; sub, iss and jti are strings)") from None
        name = principal_name("jwt", claims.iss, claims.sub)
        if len(name) > MAX_PRINCIPAL_NAME or not is_encodable(name):
            raise AuthError(f"token subject not usable: jwt:<iss>:<sub> must be valid text of at most "
                            f"{MAX_PRINCIPAL_NAME} characters")
        if await asyncio.to_thread(self.keyring.token_revoked, claims.jti):
            raise AuthError("token revoked")
        return Principal(name, claims.role, "jwt")


    async def _issued_token(self, token: str) -> Principal:
        """A token from ``POST /v1/oauth/token``: its key's principal and role, while the key and the token last."""
        assert self.issuer is not None
        claims = self.issuer.decode(token)
        jti = claims["jti"]
        record = await asyncio.to_thread(self.keyring.active, claims["cid"])
        if record is None:
            raise AuthError("the API key this token was issued for is revoked")
        if not isinstance(jti, str) or await asyncio.to_thread(self.keyring.token_revoked, jti):
            raise AuthError("token revoked")
        return Principal(principal_name("key", record.owner), record.role, "key", record.id)


def require(principal: Principal, role: str) -> None:
    if not principal.allows(role):
        raise ForbiddenError(f"this needs the '{role}' role; your credential has '{principal.role}'")
