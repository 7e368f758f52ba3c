"""``autoglm policy``: routing policy versions in the store. Gateways sharing the store apply a change on their next
poll (``policy.poll_s``, 1 s by default)."""

from __future__ import annotations

import dataclasses
import getpass
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import ConfigOption, JsonFlag, fail

if TYPE_CHECKING:
    from ..policies.book import PolicyBook

policy_app = typer.Typer(help="Routing policies: versions, the active one, rollback and pin.", no_args_is_help=True)
Reason = Annotated[str | None, typer.Option("--reason", "-r", help="why: kept in the policy log")]


@contextmanager
def _book(config: Path | None) -> Iterator[PolicyBook]:
    from ..config import load_settings
    from ..policies.book import PolicyBook
    from ..services import open_store

    store = open_store(load_settings(config))
    try:
        yield PolicyBook(store)
    finally:
        store.close()


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _dump(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _print_state(state: Any) -> None:
    if state is None:
        fail("nothing changed: a pin holds or another change was made meanwhile")
    pin = ", pinned" if state.pinned else ""
    typer.echo(f"active: {state.active if state.active is not None else 'none (as configured)'}{pin}"
               f" (previous: {state.previous})")


@policy_app.command("list")
def list_(json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """Every version: number, author, when, origin, why; the active one marked."""
    with _book(config) as book:
        records, state = book.versions(), book.state()
    if json_out:
        _dump({"state": dataclasses.asdict(state), "data": [dataclasses.asdict(r) for r in records]})
        return
    if not records:
        typer.echo("no policies yet: routing is as configured (autoglm policy create FILE)")
    for r in records:
        mark = ("*" if r.version == state.active else " ") + ("P" if r.version == state.active and state.pinned
                                                              else " ")
        typer.echo(f"{mark} v{r.version:<4} {_when(r.created_at)}  {r.origin:<8} {r.author}  {r.reason or ''}")


@policy_app.command("show")
def show(version: Annotated[int, typer.Argument(help="the version")], json_out: JsonFlag = False,
         config: ConfigOption = None) -> None:
    """A version's document."""
    with _book(config) as book:
        record = book.get(version)
    _dump(dataclasses.asdict(record) if json_out else record.body)


@policy_app.command("diff")
def diff(version: Annotated[int, typer.Argument(help="the version")],
         against: Annotated[int | None, typer.Option("--against", "-a", help="default: its parent")] = None,
         config: ConfigOption = None) -> None:
    """What VERSION changes from another version (default: the one it was made from)."""
    with _book(config) as book:
        base = against if against is not None else book.get(version).parent
        lines = book.diff(base, version)
    typer.echo("\n".join(lines) if lines else "no differences")


@policy_app.command("create")
def create(path: Annotated[Path, typer.Argument(help="a JSON or YAML policy document")],
           activate: Annotated[bool, typer.Option("--activate", help="make it the active one")] = False,
           reason: Reason = None, config: ConfigOption = None) -> None:
    """Store a new version from a file."""
    import yaml

    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        fail(f"cannot read {path}: {exc}")
    with _book(config) as book:
        record = book.create(body, _who(), reason, parent=book.state().active)
        typer.echo(f"stored v{record.version}")
        if activate:
            _print_state(book.activate(record.version, _who(), reason))


@policy_app.command("activate")
def activate(version: Annotated[int, typer.Argument(help="the version")], reason: Reason = None,
             pin: Annotated[bool, typer.Option("--pin", help="and pin it")] = False,
             config: ConfigOption = None) -> None:
    """Make VERSION the active one."""
    with _book(config) as book:
        _print_state(book.activate(version, _who(), reason, pin=pin))


@policy_app.command("rollback")
def rollback(reason: Reason = None, config: ConfigOption = None) -> None:
    """Make the version active before the current one active again."""
    with _book(config) as book:
        _print_state(book.rollback(_who(), reason))


@policy_app.command("pin")
def pin(version: Annotated[int | None, typer.Argument(help="default: the active one")] = None,
        off: Annotated[bool, typer.Option("--off", help="unpin")] = False, reason: Reason = None,
        config: ConfigOption = None) -> None:
    """Pin a version (activating it): the loop never changes a pinned policy. --off unpins."""
    with _book(config) as book:
        _print_state(book.unpin(_who(), reason) if off else book.pin(version, _who(), reason))


@policy_app.command("history")
def history(limit: Annotated[int, typer.Option("--limit", "-n")] = 50, json_out: JsonFlag = False,
            config: ConfigOption = None) -> None:
    """What happened to policies, newest first: who, when, why, and the loop's figures."""
    with _book(config) as book:
        entries = book.history(max(1, limit))
    if json_out:
        _dump([dataclasses.asdict(e) for e in entries])
        return
    for e in entries:
        figures = json.dumps(e.data, ensure_ascii=False, default=str)
        typer.echo(f"{_when(e.at)}  {e.kind:<20} v{e.version}  {e.author}  {e.reason or ''}  {figures}")
