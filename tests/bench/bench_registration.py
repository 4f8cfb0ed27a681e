"""Speed, memory and agreement on cirs057a CT (fixed) -> MR (moving): our default ct-mr-rigid vs itk-elastix.

Peers in the same run, each run in a fresh process (so peak RSS is its own):

- ours: ``register(ct, mr, load_preset("ct-mr-rigid"))``, init ``auto``: the
  orientation search is included in the time, no hint given;
- elastix: itk-elastix's default rigid parameter map, started from the right
  turn (half turn about the anterior-posterior axis, body centres aligned)
  through an initial transform, since it has no search of its own.

Both load the DICOM folders with ``workstation.dicom.load.load_volumes``
(not timed; counted in the peak memory). Reported: wall and CPU seconds of
the registration call (median), peak RSS, the transform found, and how far
apart the two transforms send the points inside the phantom.

Run: ``.venv/bin/python tests/bench/bench_registration.py [--runs 3] [--elastix-runs 3]``
(or ``.venv/bin/pytest tests/bench/bench_registration.py -s``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from workstation.jobs import no_progress

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = ROOT / ".test-data" / "cirs057a"


def _load():
    from workstation.dicom.load import load_volumes

    [ct] = load_volumes(no_progress, None, DATA / "ct").volumes
    [mr] = load_volumes(no_progress, None, DATA / "mr").volumes
    return ct, mr


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _half_turn_start(ct, mr) -> np.ndarray:
    """The right start for elastix: half turn about A-P, body centres aligned (as the data README says)."""
    from registration.context import RunContext
    from registration.initialise import centres_of_mass
    from registration.parameters import load_preset

    ctx = RunContext(ct, mr, load_preset("ct-mr-rigid"), seed=0, threads=1)
    return centres_of_mass(ctx.centroid("fixed"), ctx.centroid("moving"), np.diag([-1.0, 1.0, -1.0]))


def worker_ours(seed: int) -> dict:
    from registration.parameters import load_preset
    from registration.runner import register

    ct, mr = _load()
    wall, cpu = time.perf_counter(), _cpu()
    result = register(ct, mr, load_preset("ct-mr-rigid"), seed=seed)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    return {"matrix_lps": result.matrix_lps.tolist(), "seconds": wall, "cpu_seconds": cpu, "init": result.init,
            "iterations": result.iterations, "metric": result.metric, "threads": result.threads}


def worker_elastix(seed: int) -> dict:
    import elastix_peer

    ct, mr = _load()
    start = _half_turn_start(ct, mr)
    fixed, moving = elastix_peer.itk_image(ct), elastix_peer.itk_image(mr)
    del ct, mr
    cpu = _cpu()
    combined, wall = elastix_peer.register(fixed, moving, ["rigid"], seed, start)
    return {"matrix_lps": elastix_peer.matrix_of(combined).tolist(), "seconds": wall, "cpu_seconds": _cpu() - cpu,
            "init": "half turn (given)"}


def run_worker(kind: str, seed: int) -> dict:
    """One measured registration in a fresh process; adds its peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        done = subprocess.run([sys.executable, __file__, "--worker", kind, "--seed", str(seed), "--out", str(out)],
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def bench(runs: int, elastix_runs: int) -> dict:
    from registration.evaluation import body_points, disagreement

    ct, _ = _load()
    phantom = body_points(ct)
    del ct
    ours = [run_worker("ours", seed) for seed in range(runs)]
    elastix = [run_worker("elastix", seed) for seed in range(elastix_runs)]
    reference = np.array(elastix[0]["matrix_lps"])
    agreements = [disagreement(np.array(r["matrix_lps"]), reference, phantom) for r in ours]
    elastix_spread = [disagreement(np.array(r["matrix_lps"]), reference, phantom) for r in elastix[1:]]

    def median(rows: list[dict], key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    report = {
        "phantom_points": len(phantom),
        "ours": {"runs": ours, "median_seconds": median(ours, "seconds"),
                 "median_cpu_seconds": median(ours, "cpu_seconds"), "peak_rss_mb": max(r["peak_rss_mb"] for r in ours)},
        "elastix": {"runs": elastix, "median_seconds": median(elastix, "seconds"),
                    "median_cpu_seconds": median(elastix, "cpu_seconds"),
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in elastix)},
        "agreement_mm": [{"mean": a.mean, "max": a.max} for a in agreements],
        "elastix_run_to_run_mm": [{"mean": a.mean, "max": a.max} for a in elastix_spread],
    }
    report["time_ratio"] = report["ours"]["median_seconds"] / report["elastix"]["median_seconds"]
    report["cpu_ratio"] = report["ours"]["median_cpu_seconds"] / report["elastix"]["median_cpu_seconds"]
    return report


def print_report(report: dict) -> None:
    ours, elastix = report["ours"], report["elastix"]
    print(f"cirs057a CT -> MR, {report['phantom_points']} points inside the phantom")
    print(f"{'':10}{'median wall s':>15}{'median CPU s':>14}{'peak RSS MB':>13}  runs")
    for name, row in (("ours", ours), ("elastix", elastix)):
        each = ", ".join(f"{r['seconds']:.1f}" for r in row["runs"])
        print(f"{name:10}{row['median_seconds']:15.1f}{row['median_cpu_seconds']:14.1f}{row['peak_rss_mb']:13.0f}  "
              f"{len(row['runs'])} ({each} s)")
    print(f"ratio ours/elastix: wall {report['time_ratio']:.2f}, CPU {report['cpu_ratio']:.2f}")
    print("ours found:", sorted({r["init"] for r in ours["runs"]}))
    print("ours matrix_lps (run 0, fixed -> moving):")
    for row in ours["runs"][0]["matrix_lps"]:
        print("   " + " ".join(f"{v:11.5f}" for v in row))
    for n, a in enumerate(report["agreement_mm"]):
        print(f"agreement ours run {n} vs elastix run 0: mean {a['mean']:.3f} mm, max {a['max']:.3f} mm")
    for n, a in enumerate(report["elastix_run_to_run_mm"], 1):
        print(f"elastix run {n} vs elastix run 0: mean {a['mean']:.3f} mm, max {a['max']:.3f} mm")


def test_bench_registration() -> None:
    report = bench(runs=3, elastix_runs=1)
    print_report(report)
    assert all(a["mean"] < 1.0 for a in report["agreement_mm"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--elastix-runs", type=int, default=1)
    parser.add_argument("--worker", choices=["ours", "elastix"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", type=Path, help="also save the report here")
    args = parser.parse_args()
    if args.worker:
        result = (worker_ours if args.worker == "ours" else worker_elastix)(args.seed)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        args.out.write_text(json.dumps(result))
        return 0
    report = bench(args.runs, args.elastix_runs)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
