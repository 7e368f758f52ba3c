"""``autoglm serve``: the gateway on uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError


def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="port to listen on")] = 8000,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="autoglm.yaml to read")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning, error")] = "info",
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate (chain): serve HTTPS "
                                                  "(default: gateway.tls_cert)")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of the certificate "
                                                 "(default: gateway.tls_key)")] = None,
) -> None:
    """Start the gateway: OpenAI-compatible chat, tasks, nodes, keys, metrics."""
    try:
        import uvicorn

        from ..server.app import create_app
    except ImportError as exc:
        raise ConfigError("the gateway needs its extra: pip install 'openautoglm[server]'") from exc
    from ..app import AutoGLM
    from ..config import load_settings
    from ..logs import configure_logging
    from ..server.keys import KeyRing

    configure_logging(log_level, json_lines=True)
    settings = load_settings(config)
    cert, key = tls_files(tls_cert or settings.gateway.tls_cert, tls_key or settings.gateway.tls_key)
    from ..server.triggers import approval_broker, check_triggers

    check_triggers(settings)
    glm = AutoGLM(settings=settings)
    # Approvals live in the store: a request outlives a restart, and every replica sees and decides it.
    broker = approval_broker(glm)
    glm.approver = broker.approver
    glm.services.rerun = broker.rerun  # a decision made here wakes the waiting step at once
    for problem in glm.workflows.skipped:
        typer.echo(f"autoglm: warning: {problem}", err=True)
    if settings.auth == "required":
        admins = [k for k in KeyRing(glm.store).list() if k.role == "admin" and k.revoked_at is None]
        if not admins:
            typer.echo("autoglm: auth is required and no admin API key exists yet; create one with\n"
                       "    autoglm keys create --role admin\n"
                       "and send it as 'Authorization: Bearer <key>' (or set auth: disabled for local tests)",
                       err=True)
    else:
        typer.echo("autoglm: WARNING: auth is disabled: anyone who can reach this port acts as admin", err=True)
    app = create_app(glm, close_glm=True, approvals=broker)
    scheme = "https" if cert else "http"
    typer.echo(f"autoglm: gateway on {scheme}://{host}:{port} (OpenAI base_url {scheme}://{host}:{port}/v1)",
               err=True)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, server_header=False,
                ssl_certfile=cert, ssl_keyfile=key)


def tls_files(cert: Path | None, key: Path | None) -> tuple[str | None, str | None]:
    """The certificate and key uvicorn serves HTTPS with: both or neither, each a readable file."""
    if (cert is None) != (key is None):
        raise ConfigError("TLS needs both a certificate and its key: --tls-cert FILE --tls-key FILE "
                          "(or gateway: {tls_cert: FILE, tls_key: FILE})")
    if cert is None or key is None:
        return None, None
    for kind, path in (("certificate", cert), ("key", key)):
        if not Path(path).expanduser().is_file():
            raise ConfigError(f"TLS {kind} file not found: {path}")
    return str(Path(cert).expanduser()), str(Path(key).expanduser())
