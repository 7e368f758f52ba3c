"""API keys and the JWT revocation list, kept in the store's ``api_keys`` and ``revoked_tokens`` tables.

A key reads ``agk_<id>_<secret>``: ``id`` (public, 12 hex) finds the row, and the row holds the SHA-256 of the whole
key, never the key. The secret has 192 bits of entropy, so a fast hash is enough (no password stretching needed)
and a stolen table does not reveal usable keys. The key is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import ConfigError, NotFound
from ..store import Store, schema

PREFIX = "agk_"
ROLES = ("viewer", "user", "operator", "admin")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    role: str
    owner: str
    name: str | None
    created_at: float
    revoked_at: float | None = None

    def public(self) -> dict[str, object]:
        return {"id": self.id, "role": self.role, "owner": self.owner, "name": self.name,
                "created_at": self.created_at, "revoked": self.revoked_at is not None}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def split_key(key: str) -> str | None:
    """The id part of a well-formed key, else None."""
    if not key.startswith(PREFIX):
        return None
    parts = key[len(PREFIX):].split("_", 1)
    if len(parts) != 2 or len(parts[0]) != 12 or not parts[1]:
        return None
    return parts[0]


class KeyRing:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, role: str, owner: str | None = None, name: str | None = None) -> tuple[str, KeyRecord]:
        if role not in ROLES:
            raise ConfigError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
        for _ in range(3):
            key_id = secrets.token_hex(6)
            key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
            record = KeyRecord(key_id, role, owner or f"key-{key_id}", name, time.time())
            try:
                with self.store.engine.begin() as conn:
                    conn.execute(insert(schema.api_keys).values(
                        id=record.id, key_hash=hash_key(key), role=role, owner=record.owner, name=name,
                        created_at=record.created_at))
            except IntegrityError:  # an id collision (1 in 2^48): draw again
                continue
            return key, record
        raise ConfigError("could not allocate a key id; try again")

    def verify(self, key: str) -> KeyRecord | None:
        """The record of a valid, unrevoked key; None for anything else."""
        key_id = split_key(key)
        if key_id is None:
            return None
        with self.store.engine.connect() as conn:
            row = conn.execute(select(schema.api_keys).where(schema.api_keys.c.id == key_id)).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, hash_key(key)):
            return None
        return KeyRecord(row.id, row.role, row.owner, row.name, row.created_at, row.revoked_at)

    def list(self) -> list[KeyRecord]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(schema.api_keys).order_by(schema.api_keys.c.created_at)).all()
        return [KeyRecord(r.id, r.role, r.owner, r.name, r.created_at, r.revoked_at) for r in rows]

    def revoke(self, key_id: str) -> None:
        key_id = split_key(key_id) or key_id  # accept the whole key as well as its id
        with self.store.engine.begin() as conn:
            done = conn.execute(update(schema.api_keys).where(schema.api_keys.c.id == key_id)
                                .values(revoked_at=time.time()))
        if done.rowcount == 0:
            raise NotFound(f"no API key '{key_id}'; `autoglm keys list` shows the ids")

    # -- JWT revocation list ---------------------------------------------------------------------------------

    def revoke_token(self, jti: str, expires_at: float | None = None) -> None:
        with self.store.engine.begin() as conn:
            exists = conn.execute(select(schema.revoked_tokens.c.jti)
                                  .where(schema.revoked_tokens.c.jti == jti)).first()
            if exists is None:
                conn.execute(insert(schema.revoked_tokens).values(jti=jti, revoked_at=time.time(),
                                                                  expires_at=expires_at))

    def token_revoked(self, jti: str) -> bool:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(schema.revoked_tokens.c.jti)
                               .where(schema.revoked_tokens.c.jti == jti)).first()
        return row is not None
