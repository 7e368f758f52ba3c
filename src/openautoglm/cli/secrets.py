"""``autoglm secrets``: the key that seals what the store keeps secret (store/sealing.py)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .common import ConfigOption, JsonFlag

secrets_app = typer.Typer(help="Keys sealing stored secrets (AES-256-GCM).", no_args_is_help=True)


@secrets_app.command("rotate")
def rotate(config: ConfigOption = None, as_json: JsonFlag = False) -> None:
    """Re-encrypt every sealed value under a new key (key file), or under the first of AUTOGLM_SECRET_KEY."""
    from ..config import load_settings
    from ..services import open_store
    from ..store.rotation import rotate as rotate_store
    from ..store.sealing import ENV_KEY

    settings = load_settings(config)
    store = open_store(settings)
    try:
        done = rotate_store(store, settings.secret_key_file, settings.data_dir)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"key_id": done.key_id, "retired": done.retired, "resealed": done.resealed,
                               "source": done.source}))
        return
    typer.echo(f"sealed with key {done.key_id} ({done.source}); {done.resealed} value(s) re-encrypted")
    if done.retired and done.source == ENV_KEY:
        typer.echo(f"remove the retired key(s) {', '.join(done.retired)} from {done.source} now", err=True)


@secrets_app.command("new-key")
def new_key_command(count: Annotated[int, typer.Option("--count", min=1, max=10)] = 1) -> None:
    """Print a new random key (base64), e.g. for AUTOGLM_SECRET_KEY."""
    from ..store.sealing import encode_key, new_key

    for _ in range(count):
        typer.echo(encode_key(new_key()))


@secrets_app.command("seal")
def seal(config: ConfigOption = None) -> None:
    """Seal a secret read from stdin (a trigger's `secret:`, `reports.smtp.password`) with the store's key; print
    the sealed value."""
    import sys

    from ..config import load_settings
    from ..services import open_store
    from .common import fail

    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail("give the secret on stdin, e.g. `printf %s \"$SECRET\" | autoglm secrets seal`")
    store = open_store(load_settings(config))
    try:
        typer.echo(store.sealer.seal(value))
    finally:
        store.close()
