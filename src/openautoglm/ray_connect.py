"""Joining a Ray cluster, once per process, for everything here that uses Ray (``executor: ray``, ``backend: ray``
model nodes). Ray's connection belongs to the process, so the first caller's address wins; later callers share it.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from .extras import require_extra

_lock = threading.Lock()


def _connect(address: str | None, what: str) -> None:
    require_extra("ray", what, "ray")
    import ray

    with _lock:
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)


async def connect(address: str | None, what: str) -> None:
    """Join the cluster at ``address`` (None: RAY_ADDRESS, else a Ray started in this process). In a thread: it
    takes a second or two, and from a thread Ray leaves the process's SIGTERM handler alone (it logs that it did),
    so a gateway still drains its tasks on SIGTERM."""
    await asyncio.to_thread(_connect, address, what)
