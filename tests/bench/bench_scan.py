"""Benchmark: header scan of the cirs057a CT (283 files) against a sequential pydicom loop.

Run on demand (not collected by default)::

    .venv/bin/python tests/bench/bench_scan.py [--repeats 5]
    .venv/bin/pytest tests/bench/bench_scan.py -s

The peer is ``pydicom.dcmread(path, stop_before_pixels=True)`` over the sorted
file list, one file after the other. Measured in the same run, warm page
cache, peers interleaved round by round, median of ``repeats``:

1. in-process (imports done): the pydicom loop; ``read_header`` over the same
   list; ``scan_folder`` (listing included) as it chooses (one process for
   283 files) and forced onto 2 worker processes;
2. whole fresh processes: the pydicom loop as a script; a ``scan_folder``
   script; ``workstation scan`` importing into an empty library (headers,
   database, assembly and printing) and re-scanning it (nothing changed).

Target: ours >= 3 x the pydicom loop's files per second. This 2-core machine is
shared: read the ratios of one run, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CT = Path(os.environ.get("WORKSTATION_TEST_DATA", ROOT / ".test-data")) / "cirs057a" / "ct"

PYDICOM_LOOP = """
import sys, os, pydicom
folder = sys.argv[1]
for name in sorted(os.listdir(folder)):
    pydicom.dcmread(os.path.join(folder, name), stop_before_pixels=True)
"""

OUR_SCAN = """
import sys
from workstation.dicom.scan import scan_folder
from workstation.jobs import no_progress
if __name__ == "__main__":
    assert scan_folder(no_progress, None, sys.argv[1]).files_read == 283
"""


def _median_times(peers: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(repeats):
        for name, run in peers.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _process(*argv: str, env: dict[str, str] | None = None) -> Callable[[], object]:
    def run() -> None:
        subprocess.run(argv, check=True, capture_output=True, env=env)
    return run


def _report(title: str, times: dict[str, float], baseline: str, files: int) -> dict[str, float]:
    print(f"\n{title} (median, {files} files)")
    ratios = {}
    for name, seconds in times.items():
        ratios[name] = times[baseline] / seconds
        print(f"  {name:48s} {seconds:7.3f} s  {files / seconds:8.0f} files/s  {ratios[name]:5.2f} x pydicom loop")
    return ratios


def bench(repeats: int = 5) -> dict[str, dict[str, float]]:
    import pydicom

    from workstation.dicom.header import read_header
    from workstation.dicom.scan import scan_folder
    from workstation.jobs import no_progress

    files = sorted(str(p) for p in CT.iterdir())
    assert len(files) == 283, f"cirs057a CT not unpacked in {CT}"
    in_process = _median_times({
        "pydicom dcmread(stop_before_pixels) loop": lambda: [pydicom.dcmread(f, stop_before_pixels=True)
                                                             for f in files],
        "read_header loop": lambda: [read_header(f) for f in files],
        "scan_folder (its choice: one process)": lambda: scan_folder(no_progress, None, CT),
        "scan_folder, 2 worker processes": lambda: scan_folder(no_progress, None, CT, workers=2),
    }, repeats)
    results = {"in-process": _report("in-process, imports done", in_process,
                                     "pydicom dcmread(stop_before_pixels) loop", len(files))}

    python, workstation = sys.executable, str(Path(sys.executable).parent / "workstation")
    with tempfile.TemporaryDirectory() as home:
        script = Path(home) / "scan_script.py"
        script.write_text(OUR_SCAN)
        fresh_env = dict(os.environ, WORKSTATION_HOME=str(Path(home) / "fresh"))
        kept_env = dict(os.environ, WORKSTATION_HOME=str(Path(home) / "kept"))
        subprocess.run([workstation, "scan", str(CT)], check=True, capture_output=True, env=kept_env)

        def first_import() -> None:
            subprocess.run(["rm", "-rf", fresh_env["WORKSTATION_HOME"]], check=True)
            subprocess.run([workstation, "scan", str(CT)], check=True, capture_output=True, env=fresh_env)

        processes = _median_times({
            "pydicom dcmread(stop_before_pixels) loop": _process(python, "-c", PYDICOM_LOOP, str(CT)),
            "scan_folder script": _process(python, str(script), str(CT)),
            "workstation scan, empty library": first_import,
            "workstation scan, nothing changed": _process(workstation, "scan", str(CT), env=kept_env),
            "python -c pass (interpreter start)": _process(python, "-c", "pass"),
        }, repeats)
    results["whole processes"] = _report("whole fresh processes", processes,
                                         "pydicom dcmread(stop_before_pixels) loop", len(files))
    return results


def test_bench_scan() -> None:
    ratios = bench(int(os.environ.get("BENCH_REPEATS", "5")))
    print(f"\nheader scan: {ratios['in-process']['scan_folder (its choice: one process)']:.2f} x in-process, "
          f"{ratios['whole processes']['scan_folder script']:.2f} x as whole processes (target >= 3 x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    bench(parser.parse_args().repeats)
