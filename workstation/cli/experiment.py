"""``workstation experiment run|report|replay``: batch registration experiments on dask.distributed.

``run`` plans every pair x preset x variant x seed of an EXP.yaml and runs
the unfinished ones on a LocalCluster (``--workers N``) or an existing
scheduler (``--scheduler ADDRESS``); ``report`` writes the summary and plots
of a results folder; ``replay`` repeats one run and says whether its
transform came out identical (exit 0) or not (exit 1); ``example`` writes a
small cohort made from the demo study, with an experiment file to start from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workstation.jobs import Job, StderrProgress, run_job


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("experiment", help="batch registration experiments on dask.distributed",
                                   description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="experiment_command", required=True, metavar="ACTION")

    run = commands.add_parser("run", help="run the unfinished runs of an experiment file")
    run.add_argument("spec", type=Path, metavar="EXP.yaml")
    run.add_argument("-o", "--output", type=Path, required=True, metavar="RESULTS", help="results folder")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=int, metavar="N", help="worker processes of the local cluster "
                       "(default: cores / threads per run)")
    run.set_defaults(func=_run)

    report = commands.add_parser("report", help="summary table and plots of a results folder")
    report.add_argument("results", type=Path, metavar="RESULTS")
    report.set_defaults(func=_report)

    replay = commands.add_parser("replay", help="repeat a run and compare its transform bit for bit")
    replay.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    replay.set_defaults(func=_replay)

    example = commands.add_parser("example", help="write a small demo cohort and its experiment.yaml to try it out")
    example.add_argument("folder", type=Path, metavar="DIR")
    example.add_argument("--spacing", type=float, default=4.0, metavar="MM", help="voxel size of the pairs (4 mm)")
    example.set_defaults(func=_example)


def _run(args: argparse.Namespace) -> int:
    from workstation.experiments.runner import run_experiment
    from workstation.experiments.spec import load_spec

    spec = load_spec(args.spec)
    summary = run_job(Job(run_experiment, spec, args.output, args.scheduler, args.workers), StderrProgress())
    print(f"{summary.planned} runs: {summary.skipped} already finished, {summary.succeeded} succeeded, "
          f"{summary.failed} failed; results in {summary.results}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from workstation.experiments.report import text_table, write_report

    report = write_report(args.results)
    sys.stdout.write(text_table(report.summary))
    for path in report.files:
        print(f"wrote {path}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from workstation.experiments.replay import replay

    outcome = replay(StderrProgress(), None, args.run_dir)
    verdict = "identical" if outcome.identical else f"DIFFERENT (max |difference| {outcome.max_abs_difference:.3g})"
    print(f"{outcome.run_dir}: replayed in {outcome.seconds:.2f} s: transform {verdict}")
    for name, (then, now) in outcome.version_differences.items():
        print(f"  {name}: recorded {then}, now {now}")
    return 0 if outcome.identical else 1


def _example(args: argparse.Namespace) -> int:
    from workstation.experiments.example import write_example

    spec = run_job(Job(write_example, args.folder, args.spacing), StderrProgress())
    print(f"wrote {spec}; try: workstation experiment run {spec} -o {args.folder / 'results'}")
    return 0
