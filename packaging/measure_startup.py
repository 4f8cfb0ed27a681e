"""Start-up time of the program to its first shown window: median of N fresh processes, frozen vs pip-installed.

    xvfb-run -a .venv/bin/python packaging/measure_startup.py dist/workstation/workstation --runs 5

Several frozen programs (say, a bundle before and after a change) are measured in the same run, each against
the same pip-installed program: ``measure_startup.py old/workstation dist/workstation/workstation``.

The program, started with ``WORKSTATION_EXIT_AFTER_SHOW=1``, prints the wall-clock time at which its
main window has been shown (first turn of the event loop) and quits; the time from just before the
process was spawned to that moment is its start-up time. Each program gets one unmeasured warm-up run
(page cache, library database), then runs alternate between the two programs so that load on a shared
machine hits both alike. All runs share one temporary WORKSTATION_HOME, so the user's library is untouched.
Each program's median CPU time (user + system, the whole run: start, window, quit) is printed beside: load on a
shared machine inflates it less than the wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

SHOWN = re.compile(r"window shown at (\d+\.\d+)")


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def startup_seconds(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall-clock seconds from spawn to the shown window, CPU seconds of the whole run)."""
    cpu_before = cpu_of_children()
    started = time.time()
    done = subprocess.run(command, env={**env, "WORKSTATION_EXIT_AFTER_SHOW": "1"}, capture_output=True, text=True,
                          timeout=300)
    match = SHOWN.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"{command[0]} did not show its window (exit {done.returncode}): {done.stderr.strip()}")
    return float(match.group(1)) - started, cpu_of_children() - cpu_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("programs", nargs="+", help="frozen programs, e.g. dist/workstation/workstation")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise SystemExit("needs a display: run under xvfb-run -a")
    frozen = {("frozen" if len(args.programs) == 1 else f"frozen {n + 1}"): [program]
              for n, program in enumerate(args.programs)}
    programs = {**frozen, "pip-installed": [sys.executable, "-m", "workstation"]}
    times: dict[str, list[float]] = {name: [] for name in programs}
    cpu: dict[str, list[float]] = {name: [] for name in programs}
    with tempfile.TemporaryDirectory(prefix="workstation-startup-") as home:
        # The pip-installed program reads compiled modules, as after `pip install` (which compiles them): the
        # warm-up run writes them to a cache in the temporary folder even where PYTHONDONTWRITEBYTECODE is set,
        # which would otherwise make every measured run compile the program's sources again.
        env = {**os.environ, "WORKSTATION_HOME": home, "PYTHONPYCACHEPREFIX": os.path.join(home, "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for command in programs.values():
            startup_seconds(command, env)  # warm-up
        for _ in range(args.runs):
            for name, command in programs.items():
                wall, cpu_seconds = startup_seconds(command, env)
                times[name].append(wall)
                cpu[name].append(cpu_seconds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:14s} median {medians[name]:.2f} s (CPU {statistics.median(cpu[name]):.2f} s)  "
              f"runs: {' '.join(f'{v:.2f}' for v in values)}"
              + (f"  ({programs[name][0]})" if name in frozen else ""))
    for name in frozen:
        print(f"{name} / pip-installed: {medians[name] / medians['pip-installed']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
