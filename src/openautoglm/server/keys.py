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

from ..errors import ConfigError, NotFound
from ..store import KeyRecord, Store

PREFIX = "agk_"
ROLES = ("viewer", "user", "operator", "admin")
__all__ = ["PREFIX", "ROLES", "KeyRecord", "KeyRing", "hash_key", "split_key"]


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
    """Keys made, checked and revoked; the rows live in the store (``Store.add_api_key`` and its neighbours)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, role: str, owner: str | None = None, name: str | None = None) -> tuple[str, KeyRecord]:
        if role not in ROLES:
            raise ConfigError(f"unknown role '{role}'; use one of {', '.join(ROLES)}")
        for _ in range(3):
            key_id = secrets.token_hex(6)
            key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
            # The owner label defaults to the key's id; callers see it as the principal ``key:<owner>``.
            record = KeyRecord(key_id, role, owner or key_id, name, time.time())
            if self.store.add_api_key(record, hash_key(key)):
                return key, record
            # an id collision (1 in 2^48): draw again
        raise ConfigError("could not allocate a key id; try again")

    def verify(self, key: str) -> KeyRecord | None:
        """The record of a valid, unrevoked key; None for anything else."""
        key_id = split_key(key)
        if key_id is None:
            return None
        found = self.store.api_key(key_id)
        if found is None:
            return None
        record, key_hash = found
        if record.revoked_at is not None or not hmac.compare_digest(key_hash, hash_key(key)):
            return None
        return record

    def active(self, key_id: str) -> KeyRecord | None:
        """The record of the unrevoked key ``key_id`` (no secret needed: for tokens issued to it); else None."""
        found = self.store.api_key(key_id)
        if found is None or found[0].revoked_at is not None:
            return None
        return found[0]

    def list(self) -> list[KeyRecord]:
        return self.store.api_keys()

    def revoke(self, key_id: str) -> None:
        key_id = split_key(key_id) or key_id  # accept the whole key as well as its id
        if not self.store.revoke_api_key(key_id):
            raise NotFound(f"no API key '{key_id}'; `autoglm keys list` shows the ids")

    # -- JWT revocation list ---------------------------------------------------------------------------------

    def revoke_token(self, jti: str, expires_at: float | None = None) -> None:
        self.store.revoke_token(jti, expires_at)

    def token_revoked(self, jti: str) -> bool:
        return self.store.token_revoked(jti)
