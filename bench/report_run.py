"""Wall and CPU time of `autoglm report run NAME --out DIR` (no model), as a user runs it: a new process each time,
against the same command's start-up without the run (`autoglm report list`: imports, settings, the definitions),
in one run, side by side.

    .venv/bin/python bench/report_run.py                       # sales-monthly, 5 rounds
    .venv/bin/python bench/report_run.py --report sales-weekly --rounds 10

Each round runs both commands one after the other (alternating which goes first), so a burst of load from other
work falls on both. CPU is the child's user + system time (``os.wait4``), which load on the machine does not
inflate the way it does wall time; the load average is printed with the figures. The first run in a new
``AUTOGLM_HOME`` also writes the bundled sales database: a warm-up round is run first and not counted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AUTOGLM = str(Path(sys.executable).with_name("autoglm"))


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one `autoglm` process."""
    started = time.perf_counter()
    proc = subprocess.Popen([AUTOGLM, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"autoglm {' '.join(args)} failed: {err.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", default="sales-monthly")
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-report-"))
    env = {**os.environ, "AUTOGLM_HOME": str(home / "home")}
    commands = {"report run": ["report", "run", opts.report, "--out", str(home / "out")],
                "report list": ["report", "list"]}
    try:
        timed(commands["report run"], env)  # warm-up: the sales database is written on the first run
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for i in range(opts.rounds):
            order = list(commands) if i % 2 == 0 else list(reversed(commands))
            for name in order:
                results[name].append(timed(commands[name], env))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(f"autoglm report run {opts.report} --out DIR, {opts.rounds} rounds, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'command':<14} {'wall median':>12} {'wall min–max':>14} {'CPU median':>11} {'CPU min–max':>13}")
    for name, rows in results.items():
        walls, cpus = [w for w, _ in rows], [c for _, c in rows]
        print(f"{name:<14} {statistics.median(walls):>10.2f} s {min(walls):>6.2f}–{max(walls):<5.2f} s "
              f"{statistics.median(cpus):>9.2f} s {min(cpus):>5.2f}–{max(cpus):<5.2f} s")
    run_cpu = statistics.median(c for _, c in results["report run"])
    list_cpu = statistics.median(c for _, c in results["report list"])
    run_wall = statistics.median(w for w, _ in results["report run"])
    list_wall = statistics.median(w for w, _ in results["report list"])
    print(f"ratio run / list: CPU {run_cpu / list_cpu:.2f}x, wall {run_wall / list_wall:.2f}x; the run itself "
          f"(run minus start-up): CPU {run_cpu - list_cpu:.2f} s, wall {run_wall - list_wall:.2f} s")


if __name__ == "__main__":
    main()
