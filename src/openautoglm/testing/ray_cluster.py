"""A real Ray cluster on this machine's loopback, for tests and benchmarks: ``ray start --head`` and, optionally,
more worker nodes (``ray start --address``), each its own set of processes, stopped together.

Ray turns ``127.0.0.1`` into the machine's routable address (so that other machines could reach it); any other
loopback address it keeps, so the head listens as 127.0.0.2 and worker nodes join as 127.0.0.3, 127.0.0.4...
Every ``ray start`` runs in a new session, so each node's daemons (GCS, raylet, workers) share one process group,
which :meth:`LocalRayCluster.stop` ends: only what this cluster started, never a ``ray stop`` of every Ray on the
machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

HEAD_IP = "127.0.0.2"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LocalRayCluster:
    """A head node with ``head_cpus`` and one worker node per entry of ``worker_cpus``."""

    def __init__(self, head_cpus: int = 1, worker_cpus: tuple[int, ...] = (), pythonpath: tuple[str, ...] = (),
                 env: Mapping[str, str] | None = None) -> None:
        self.head_cpus = head_cpus
        self.worker_cpus = worker_cpus
        self.port = _free_port(HEAD_IP)
        self.address = f"{HEAD_IP}:{self.port}"
        self.temp_dir = Path(tempfile.mkdtemp(prefix="autoglm-ray-"))
        self.groups: list[int] = []  # the process group of each node's `ray start`
        self.env = dict(os.environ) | dict(env or {}) | {"RAY_USAGE_STATS_ENABLED": "0"}
        paths = [*pythonpath, self.env.get("PYTHONPATH", "")]
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        self.ray = str(Path(sys.executable).with_name("ray"))
        self.start_s: list[float] = []  # how long each `ray start` took, head first

    def start(self) -> LocalRayCluster:
        try:
            self._ray_start("--head", f"--node-ip-address={HEAD_IP}", f"--port={self.port}",
                            f"--ray-client-server-port={_free_port(HEAD_IP)}", f"--temp-dir={self.temp_dir}",
                            f"--num-cpus={self.head_cpus}", "--include-dashboard=false")
            for i, cpus in enumerate(self.worker_cpus):
                self._ray_start(f"--address={self.address}", f"--node-ip-address=127.0.0.{3 + i}",
                                f"--num-cpus={cpus}")
        except BaseException:
            self.stop()
            raise
        return self

    def _ray_start(self, *args: str) -> None:
        began = time.perf_counter()
        proc = subprocess.Popen([self.ray, "start", *args, "--disable-usage-stats"], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.groups.append(proc.pid)  # its daemons stay in this group after it exits
        try:
            out, _ = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        if proc.returncode != 0:
            tail = out.decode(errors="replace")[-2000:]
            raise RuntimeError(f"ray start {' '.join(args)} failed ({proc.returncode}):\n{tail}")
        self.start_s.append(time.perf_counter() - began)

    def stop(self) -> None:
        """End every process of every node (TERM, then KILL whatever is left), and remove the temp dir."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for group in reversed(self.groups):
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, sig)
            deadline = time.monotonic() + 3  # raylets and GCS go at once; a straggler is killed next
            while sig == signal.SIGTERM and time.monotonic() < deadline and any(map(_alive, self.groups)):
                time.sleep(0.2)
        self.groups.clear()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def local_ray_cluster(head_cpus: int = 1, worker_cpus: tuple[int, ...] = (),
                      pythonpath: tuple[str, ...] = ()) -> Iterator[LocalRayCluster]:
    cluster = LocalRayCluster(head_cpus, worker_cpus, pythonpath)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
