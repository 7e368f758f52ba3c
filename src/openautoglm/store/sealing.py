"""Secrets at rest: values the store keeps sealed with AES-256-GCM under a key the database does not hold.

A sealed value is text, ``agsealed:<key id>:<base64url(nonce || ciphertext || tag)>``, so it fits the column the
plaintext used and says which key opens it. :class:`Sealer` holds several keys: the first seals, all of them open,
which is what lets ``autoglm secrets rotate`` re-encrypt every value under a new key while the old one still reads.

Where the keys come from (:func:`load_sealer`): ``AUTOGLM_SECRET_KEY`` (base64 of 32 bytes; several separated by
commas, the first current), else ``secret_key_file`` (one base64 key a line, the first current), else
``<data dir>/secret.key``, created with permissions 0600 on first use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ConfigError, StoreError

PREFIX = "agsealed:"
ENV_KEY = "AUTOGLM_SECRET_KEY"
DEFAULT_KEY_FILE = "secret.key"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12


def key_id(key: bytes) -> str:
    """A short public name for a key (not the key: a hash prefix), stored with each value it sealed."""
    return hashlib.sha256(b"autoglm-secret-key:" + key).hexdigest()[:12]


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: a secret key must be base64 text") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{where}: a secret key must be {KEY_BYTES} bytes (base64 of 32 random bytes; "
                          f"make one with `autoglm secrets new-key`), not {len(key)}")
    return key


class UnknownKey(StoreError):
    """A value sealed with a key that is not configured (rotated elsewhere, or the key was lost)."""


class Sealer:
    """Seals with the first key, opens with any of them."""

    def __init__(self, keys: Sequence[bytes], origin: Path | None = None) -> None:
        """``origin``: the key file the keys were read from, so :meth:`stale` can tell when it was rewritten."""
        if not keys:
            raise ConfigError("no secret key to seal with")
        self.keys = list(keys)
        self.origin = origin
        self._stamp = _stamp(origin)
        self._ciphers = {key_id(k): AESGCM(k) for k in self.keys}
        self.current = key_id(self.keys[0])

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current].encrypt(nonce, plaintext.encode("utf-8"), self.current.encode())
        return f"{PREFIX}{self.current}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, value: str) -> str:
        """The plaintext of a sealed value; a value that is not sealed (written before sealing) as it is."""
        if not is_sealed(value):
            return value
        kid, _, body = value[len(PREFIX):].partition(":")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UnknownKey(f"a stored secret is sealed with key {kid}, which is not among the configured keys "
                             f"({', '.join(self._ciphers)}); restore it ({ENV_KEY} or secret_key_file)")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kid.encode()).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise StoreError(f"a stored secret sealed with key {kid} does not open: it was altered") from exc

    def stale(self) -> bool:
        """True when the key file changed since these keys were read (rotated by another process)."""
        return self.origin is not None and _stamp(self.origin) != self._stamp

    def needs_resealing(self, value: str) -> bool:
        """True for plaintext and for values sealed under a key other than the current one."""
        return not value.startswith(f"{PREFIX}{self.current}:")

    def seal_optional(self, value: str | None) -> str | None:
        return None if value is None else self.seal(value)

    def open_optional(self, value: str | None) -> str | None:
        return None if value is None else self.open(value)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_ino


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def key_file_keys(path: Path) -> list[bytes]:
    lines = [line for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
    return [decode_key(line, str(path)) for line in lines]


def write_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Write keys (the first current) readable by the owner only; replaced atomically, so a crash mid-write
    leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write("".join(encode_key(k) + "\n" for k in keys))
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def _create_key_file(path: Path) -> None:
    """The first key, made once: O_EXCL, so two processes starting together end up with the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(encode_key(new_key()) + "\n")


def key_source(key_file: Path | None, data_dir: Path) -> tuple[str, Path | None]:
    """Where the keys come from: ("env", None) or ("file", path)."""
    if os.environ.get(ENV_KEY, "").strip():
        return "env", None
    return "file", Path(key_file).expanduser() if key_file else data_dir / DEFAULT_KEY_FILE


def load_sealer(key_file: Path | None, data_dir: Path) -> Sealer:
    kind, path = key_source(key_file, data_dir)
    if kind == "env":
        parts = [p for p in os.environ[ENV_KEY].split(",") if p.strip()]
        return Sealer([decode_key(p, ENV_KEY) for p in parts])
    assert path is not None
    if not path.exists():
        if key_file:  # a file the settings name must be there: making a new one would orphan what it sealed
            raise ConfigError(f"secret_key_file {path} does not exist")
        _create_key_file(path)
    return Sealer(key_file_keys(path), origin=path)
