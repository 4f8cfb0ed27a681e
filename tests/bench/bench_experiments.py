"""Benchmark: an experiment batch on 1 versus 2 dask workers, and dask's overhead per task against a plain loop.

Run on demand (not collected by default)::

    .venv/bin/pytest tests/bench/bench_experiments.py -s
    .venv/bin/python tests/bench/bench_experiments.py [--seeds 4] [--repeats 2]

All peers run in the same process, on the same cohort (the example cohort at
4 mm, ``short`` variant), interleaved over ``repeats`` rounds; the median of
each is reported. Cluster start-up is timed separately from the batch, since
a researcher pays it once per ``experiment run``. Timings on this shared
2-core machine are noisy: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from distributed import Client, LocalCluster

from workstation.experiments import example
from workstation.experiments.execute import execute
from workstation.experiments.plan import plan_experiment
from workstation.experiments.results import write_run
from workstation.experiments.runner import run_on_client
from workstation.experiments.spec import load_spec
from workstation.jobs import no_progress


def _noop(x: int) -> int:
    return x


def _cohort(folder: Path, seeds: int) -> list:
    spec_path = example.write_example(no_progress, None, folder)
    data = yaml.safe_load(spec_path.read_text())
    data.update(overrides={"short": data["overrides"]["short"]}, seeds=list(range(seeds)))
    spec_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return plan_experiment(load_spec(spec_path))


def _record(outcomes, results: Path) -> tuple[float, float, float]:
    """Record every outcome as the runner does; (wall seconds, summed task seconds, summed task CPU seconds)."""
    clock, busy, cpu = time.perf_counter(), 0.0, 0.0
    for outcome in outcomes:
        assert outcome.status == "ok", outcome.error
        write_run(results, outcome)
        busy += outcome.timing["total_seconds"]
        cpu += outcome.timing["cpu_seconds"]
    return time.perf_counter() - clock, busy, cpu


def _plain_loop(tasks: list, results: Path) -> tuple[float, float, float]:
    return _record((execute(task) for task in tasks), results)


def _on_cluster(client: Client, tasks: list, results: Path) -> tuple[float, float, float]:
    return _record(run_on_client(client, tasks), results)


def _noop_round_trip(client: Client, n: int = 200) -> float:
    """Seconds per trivial task submitted one by one and awaited: dask's bare cost per task."""
    clock = time.perf_counter()
    for i in range(n):
        client.submit(_noop, i, pure=False).result()
    return (time.perf_counter() - clock) / n


def run_benchmark(seeds: int = 4, repeats: int = 2) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-experiments-") as tmp:
        root = Path(tmp)
        tasks = _cohort(root / "cohort", seeds)
        clusters: dict[int, tuple[LocalCluster, Client]] = {}
        startup: dict[int, float] = {}
        for workers in (1, 2):
            clock = time.perf_counter()
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR)
            clusters[workers] = (cluster, Client(cluster, set_as_default=False))
            startup[workers] = time.perf_counter() - clock
        times: dict[str, list[float]] = {"loop": [], "1 worker": [], "2 workers": []}
        busy: dict[str, list[float]] = {name: [] for name in times}
        cpu_share: dict[str, list[float]] = {name: [] for name in times}
        load_before = os.getloadavg()[0]
        try:
            for _ in range(2):  # warm both clusters' imports and caches before timing
                for _cluster, client in clusters.values():
                    _on_cluster(client, tasks[:1], root / "warm")
            for round_ in range(repeats):
                for name, run in (("loop", lambda out: _plain_loop(tasks, out)),
                                  ("1 worker", lambda out: _on_cluster(clusters[1][1], tasks, out)),
                                  ("2 workers", lambda out: _on_cluster(clusters[2][1], tasks, out))):
                    wall, summed, cpu = run(root / f"{name.replace(' ', '')}{round_}")
                    times[name].append(wall)
                    busy[name].append(summed / wall)
                    cpu_share[name].append(cpu / summed)
            noop = _noop_round_trip(clusters[1][1])
        finally:
            for cluster, client in clusters.values():
                client.close()
                cluster.close()
    median = {name: statistics.median(values) for name, values in times.items()}
    n = len(tasks)
    figures = {
        "tasks": n,
        "loop_s": median["loop"], "one_worker_s": median["1 worker"], "two_workers_s": median["2 workers"],
        "speedup_2_vs_1": median["1 worker"] / median["2 workers"],
        "speedup_2_vs_loop": median["loop"] / median["2 workers"],
        "overhead_per_task_s": (median["1 worker"] - median["loop"]) / n,
        "mean_task_s": median["loop"] / n,
        "noop_round_trip_s": noop,
        "startup_1_worker_s": startup[1], "startup_2_workers_s": startup[2],
        "concurrency_2_workers": statistics.median(busy["2 workers"]),
        **{f"cpu_per_wall_{name.replace(' ', '_')}": statistics.median(v) for name, v in cpu_share.items()},
        "load_before": load_before, "load_after": os.getloadavg()[0],
    }
    print(f"\nexperiment batch: {n} registrations (example cohort, 4 mm, short variant), median of {repeats}")
    for name, values in times.items():
        print(f"  {name:10s} {median[name]:7.2f} s   runs: {', '.join(f'{v:.2f}' for v in values)}")
    print(f"  speed-up 2 workers vs 1: {figures['speedup_2_vs_1']:.2f}x; vs plain loop: "
          f"{figures['speedup_2_vs_loop']:.2f}x")
    print(f"  dask overhead per task (1 worker - loop) / n: {figures['overhead_per_task_s'] * 1000:.0f} ms "
          f"on a {figures['mean_task_s']:.2f} s task; bare no-op round trip: {noop * 1000:.1f} ms")
    print(f"  cluster start-up: 1 worker {startup[1]:.2f} s, 2 workers {startup[2]:.2f} s")
    print(f"  runs in flight at once on 2 workers (summed task time / wall): {figures['concurrency_2_workers']:.2f}; "
          f"machine load average {figures['load_before']:.1f} before, {figures['load_after']:.1f} after "
          f"({os.cpu_count()} cores)")
    print("  CPU seconds per wall second of a task (1.0 = a core of its own): "
          + ", ".join(f"{name} {statistics.median(v):.2f}" for name, v in cpu_share.items()))
    return figures


def test_bench_experiments() -> None:
    figures = run_benchmark()
    assert figures["tasks"] > 0 and figures["two_workers_s"] > 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()
    run_benchmark(options.seeds, options.repeats)
    sys.exit(0)
