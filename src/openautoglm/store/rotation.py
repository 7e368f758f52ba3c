"""``autoglm secrets rotate``: re-encrypt every sealed value in the store under a new key.

With keys in a file (``secret_key_file`` or the default ``<data dir>/secret.key``) a new key is drawn and written
first in the file, before the old ones, so both open values while the store is rewritten; then the old keys are
dropped. With ``AUTOGLM_SECRET_KEY`` the operator puts the new key first (``NEW,OLD``), rotates, then removes OLD.
A gateway running meanwhile reads the key file again when it changes, so it seals with the new key from then on;
keys from the environment it reads only at start: restart it after rotating those.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .sealing import ENV_KEY, Sealer, key_file_keys, key_id, key_source, load_sealer, new_key, write_key_file
from .sql import Store


@dataclass(frozen=True, slots=True)
class Rotation:
    key_id: str  # the key everything is sealed with now
    retired: list[str]  # key ids no longer needed (dropped from the key file, or to drop from the environment)
    resealed: int  # values rewritten
    source: str  # the key file's path, or the environment variable's name


def rotate(store: Store, key_file: Path | None, data_dir: Path) -> Rotation:
    kind, path = key_source(key_file, data_dir)
    if kind == "env":
        sealer = load_sealer(key_file, data_dir)
        store.use_sealer(sealer)
        resealed = store.reseal()
        return Rotation(sealer.current, [key_id(k) for k in sealer.keys[1:]], resealed, ENV_KEY)
    assert path is not None
    old = key_file_keys(path) if path.exists() else []
    fresh = new_key()
    write_key_file(path, [fresh, *old])  # both readable while the store is rewritten
    store.use_sealer(Sealer([fresh, *old], origin=path))
    resealed = store.reseal()
    write_key_file(path, [fresh])
    store.use_sealer(Sealer([fresh], origin=path))
    return Rotation(key_id(fresh), [key_id(k) for k in old], resealed, str(path))
