"""Logging setup. Logs go to stderr, always: stdout belongs to the command's output (`--json` must stay JSON)."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(level: str = "WARNING", json_lines: bool = False) -> None:
    """Route structlog (and stdlib logging) to stderr at ``level``; ``json_lines`` for machine-read logs."""
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if json_lines else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
