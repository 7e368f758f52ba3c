"""This machine's load, as a node reports it with its heartbeats (the router's resource table reads it): CPU busy
percent since the last reading and memory available percent, from /proc (Linux); None where unknown."""

from __future__ import annotations

from pathlib import Path


class HostLoad:
    """Each :meth:`read` gives the CPU use since the previous one (the first: since boot)."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = proc
        self._last: tuple[int, int] | None = None

    def cpu_percent(self) -> float | None:
        try:
            fields = [int(x) for x in (self.proc / "stat").read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return None
        idle, total = fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields)
        last, self._last = self._last, (idle, total)
        if last is not None:
            idle, total = idle - last[0], total - last[1]
        return None if total <= 0 else round(100.0 * (1 - idle / total), 1)

    def memory_free_percent(self) -> float | None:
        try:
            info = dict(line.split(":", 1) for line in (self.proc / "meminfo").read_text().splitlines())
            total, available = int(info["MemTotal"].split()[0]), int(info["MemAvailable"].split()[0])
        except (OSError, ValueError, KeyError):
            return None
        return None if total <= 0 else round(100.0 * available / total, 1)

    def read(self, queue_depth: int | None = None) -> dict[str, float | int | None]:
        return {"cpu_percent": self.cpu_percent(), "memory_free_percent": self.memory_free_percent(),
                "queue_depth": queue_depth}
