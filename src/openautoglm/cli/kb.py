"""`autoglm kb`: add documents to the knowledge base, search it, list and remove what is in it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOption, JsonFlag, make_app, run_async

kb_app = typer.Typer(help="The knowledge base: add, sync, search, list and remove documents.", no_args_is_help=True)


@kb_app.command("add")
def add(
    paths: Annotated[list[Path], typer.Argument(help="files and folders (.txt .md .html .pdf .docx .csv)")],
    json_out: JsonFlag = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    config: ConfigOption = None,
) -> None:
    """Ingest files and folders; unchanged files are skipped, changed ones re-ingested, deleted ones removed."""
    glm = make_app(config)
    try:
        report = glm.knowledge.add(
            paths,
            progress=not (quiet or json_out),
            on_error=None if json_out else lambda e: typer.echo(f"autoglm: error: {e.source}: {e.error}", err=True),
        )
    finally:
        glm.knowledge.close()
    if json_out:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(report.summary(), err=True)
    if report.failed:
        raise typer.Exit(1)


@kb_app.command("sync")
def sync(
    names: Annotated[list[str] | None, typer.Argument(help="sources to sync (default: every one configured)")] = None,
    json_out: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Bring the sources in `knowledge.sources` (SQL queries, JSON APIs, folders) up to date: new, changed and
    deleted rows, items and files; unchanged ones are skipped."""
    glm = make_app(config)
    if not glm.settings.knowledge.sources:
        from ..errors import ConfigError

        raise ConfigError("no sources to sync: add knowledge.sources to autoglm.yaml (kind: sql, http or folder)")
    reports = run_async(lambda: glm.sync_knowledge(names or None), glm)
    if json_out:
        typer.echo(json.dumps({n: r.to_dict() for n, r in reports.items()}, ensure_ascii=False, indent=2))
    else:
        for name, report in reports.items():
            for failure in report.failed:
                typer.echo(f"autoglm: error: {name}: {failure.source}: {failure.error}", err=True)
            typer.echo(f"{name}: {report.summary()}", err=True)
    if any(r.failed for r in reports.values()):
        raise typer.Exit(1)


@kb_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="what to look for, in Chinese or English")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="how many results")] = 5,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, keyword or vector")] = "hybrid",
    source: Annotated[str | None, typer.Option("--source", help="only files matching this glob, e.g. '*.pdf'")] = None,
    types: Annotated[list[str] | None, typer.Option("--type", help="only this file type (repeatable)")] = None,
    json_out: JsonFlag = False,
    config: ConfigOption = None,
) -> None:
    """Search the knowledge base: each result with its source file, position, score and text."""
    from ..errors import ConfigError

    if mode not in ("hybrid", "keyword", "vector"):
        raise ConfigError(f"--mode must be hybrid, keyword or vector, not '{mode}'")
    glm = make_app(config)
    filters = {"source": source, "types": types} if (source or types) else None
    try:
        hits = glm.knowledge.search(query, k, filters=filters, mode=mode)  # type: ignore[arg-type]
    finally:
        glm.knowledge.close()
    if json_out:
        typer.echo(json.dumps([h.model_dump() for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        typer.echo("no results (`autoglm kb list` shows what the knowledge base holds)", err=True)
    for i, h in enumerate(hits, start=1):
        typer.echo(f"[{i}] {h.source}  ({h.position})  score={h.score:.4f}")
        for line in h.text.splitlines()[:6]:
            typer.echo(f"    {line[:200]}")


@kb_app.command("list")
def list_(json_out: JsonFlag = False, config: ConfigOption = None) -> None:
    """List the documents in the knowledge base."""
    glm = make_app(config)
    try:
        docs = glm.knowledge.documents()
    finally:
        glm.knowledge.close()
    if json_out:
        typer.echo(json.dumps([d.__dict__ for d in docs], ensure_ascii=False, indent=2))
        return
    if not docs:
        typer.echo("the knowledge base is empty (`autoglm kb add PATH` adds documents)", err=True)
    for d in docs:
        when = datetime.fromtimestamp(d.ingested_at).strftime("%Y-%m-%d %H:%M")
        typer.echo(f"{d.source}  {d.type}  {d.chunks} chunks  {d.size} bytes  {when}")


@kb_app.command("remove")
def remove(
    paths: Annotated[list[Path], typer.Argument(help="files, or folders (everything under them)")],
    config: ConfigOption = None,
) -> None:
    """Remove documents from the knowledge base (the files themselves are not touched)."""
    glm = make_app(config)
    try:
        removed = glm.knowledge.remove(paths)
    finally:
        glm.knowledge.close()
    for source in removed:
        typer.echo(f"removed {source}", err=True)


@kb_app.command("distil")
def distil(
    top: Annotated[int | None, typer.Option("--top", min=1, help="only the N most frequent tokens (default: all)")]
    = None,
    config: ConfigOption = None,
) -> None:
    """Distil the static e5 token vectors (`embeddings: {provider: static}`) ahead of ingestion, most frequent
    tokens first, into the on-disk cache; tokens already there are skipped."""
    import time

    from ..embeddings import StaticE5Embedder

    glm = make_app(config)
    embedder = StaticE5Embedder(cache_dir=glm.settings.embeddings.cache_dir)
    started = time.perf_counter()
    shown = [0.0]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - shown[0] > 5:
            shown[0] = time.perf_counter()
            typer.echo(f"distilled {done} of {total} tokens", err=True)

    n = embedder.prepare(top, progress)
    typer.echo(f"distilled {n} token vectors in {time.perf_counter() - started:.0f}s "
               f"(cache: {embedder.cache_folder})", err=True)


@kb_app.command("reindex")
def reindex(config: ConfigOption = None) -> None:
    """Embed every chunk again with the configured embedder (after changing `embeddings:`)."""
    from ..embeddings import make_embedder
    from ..memory.kb import KnowledgeBase, kb_path

    glm = make_app(config)
    embedder = make_embedder(glm.settings.embeddings)
    kb = KnowledgeBase(kb_path(glm.settings), embedder, config=glm.settings.knowledge, reindex=True)
    try:
        n = kb.reindex()
    finally:
        kb.close()
    typer.echo(f"re-embedded {n} chunks with {embedder.name}", err=True)
