"""``autoglm keys``: create, list and revoke the gateway's API keys; revoke JWTs by jti."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..server.keys import KeyRing

keys_app = typer.Typer(help="API keys for the gateway (stored hashed; a new key is printed once).",
                       no_args_is_help=True)
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="autoglm.yaml to read")]


def _keyring(config: Path | None) -> KeyRing:
    from ..config import load_settings
    from ..server.keys import KeyRing
    from ..services import open_store

    return KeyRing(open_store(load_settings(config)))


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option("--role", "-r", help="viewer, user, operator or admin")],
    owner: Annotated[str | None, typer.Option("--owner", help="whose tasks it creates and reads")] = None,
    name: Annotated[str | None, typer.Option("--name", help="a label, e.g. who holds it")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
    config: ConfigOption = None,
) -> None:
    """Create a key and print it once: store it now, it cannot be shown again."""
    ring = _keyring(config)
    try:
        key, record = ring.create(role, owner, name)
    finally:
        ring.store.close()
    if json_out:
        typer.echo(json.dumps({"key": key, **record.public()}))
        return
    typer.echo(key)
    typer.echo(f"(key id {record.id}, role {record.role}, owner {record.owner}; shown once, stored only as a hash)",
               err=True)


@keys_app.command("list")
def list_(json_out: Annotated[bool, typer.Option("--json")] = False, config: ConfigOption = None) -> None:
    """List keys: id, role, owner, state (never the keys)."""
    ring = _keyring(config)
    try:
        records = ring.list()
    finally:
        ring.store.close()
    if json_out:
        typer.echo(json.dumps([r.public() for r in records]))
        return
    for r in records:
        state = "revoked" if r.revoked_at else "active"
        typer.echo(f"{r.id}  {r.role:<8}  {r.owner}  {state}{'  ' + r.name if r.name else ''}")


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="the key's id (from `keys list`) or the key")],
           config: ConfigOption = None) -> None:
    """Revoke a key: requests with it fail from now on, on every gateway using this database."""
    ring = _keyring(config)
    try:
        ring.revoke(key_id)
    finally:
        ring.store.close()
    typer.echo(f"revoked {key_id}", err=True)


@keys_app.command("revoke-token")
def revoke_token(jti: Annotated[str, typer.Argument(help="the token's jti claim")],
                 config: ConfigOption = None) -> None:
    """Revoke a JWT by its jti."""
    ring = _keyring(config)
    try:
        ring.revoke_token(jti)
    finally:
        ring.store.close()
    typer.echo(f"revoked token {jti}", err=True)
