"""``workstation info PATH... [--json]``: the volumes in DICOM files or folders, from headers alone.

A contract other tools call: ``--json`` prints a JSON list with one object per
assembled volume (series_uid, modality, description, size [i, j, k(, t)],
spacing [i, j, k] mm, origin [x, y, z] LPS mm of the first voxel's centre,
direction as 9 numbers in SimpleITK's GetDirection order, warnings, files,
scaling: "philips-fp" when the values are Philips floating-point values,
"display" otherwise, as ``convert`` with the same ``--scaling`` writes them).
No pixel is decoded and neither SimpleITK nor pydicom's pixel plugins are
imported, so it answers quickly. Files left out are listed on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.errors import Skipped
from workstation.jobs import Job, StderrProgress, no_progress, run_job

if TYPE_CHECKING:
    from workstation.dicom.assemble import SeriesPlan

MAX_SKIPPED_SHOWN = 20


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="describe the volumes in DICOM files or folders (no pixels read)",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="DICOM file or folder")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per volume")
    add_scaling_argument(parser)
    parser.set_defaults(func=run)


def add_scaling_argument(parser: argparse.ArgumentParser) -> None:
    """``--scaling``, shared by ``info`` and ``convert`` so that info describes what convert writes."""
    from workstation.dicom.scaling import SCALINGS

    parser.add_argument("--scaling", choices=SCALINGS, default=SCALINGS[0],
                        help="Philips scaled data: floating-point values as dcm2niix writes them (default), or the "
                             "display values a DICOM viewer shows")


def cli_progress() -> StderrProgress | None:
    """Progress on stderr only when someone watches a terminal; scripts get clean output."""
    return StderrProgress() if sys.stderr.isatty() else None


def report_skipped(command: str, skipped: Sequence[Skipped]) -> None:
    """Partial success says what was left out: one line per file, the first few only."""
    if not skipped:
        return
    print(f"workstation {command}: {len(skipped)} file(s) left out:", file=sys.stderr)
    for entry in skipped[:MAX_SKIPPED_SHOWN]:
        print(f"  {entry}", file=sys.stderr)
    if len(skipped) > MAX_SKIPPED_SHOWN:
        print(f"  ... and {len(skipped) - MAX_SKIPPED_SHOWN} more", file=sys.stderr)


def describe(plan: SeriesPlan) -> dict[str, object]:
    """The JSON object of one planned volume."""
    return {
        "series_uid": plan.series_uid,
        "modality": plan.reference.modality,
        "description": plan.description,
        "size": [int(n) for n in plan.size],
        "spacing": [float(v) for v in plan.spacing],
        "origin": [float(v) for v in plan.origin],
        "direction": [float(v) for v in plan.direction.ravel()],
        "warnings": list(plan.warnings),
        "files": len(plan.files),
        "scaling": plan.scaling,
    }


def run(args: argparse.Namespace) -> int:
    from workstation.cli import label_objects
    from workstation.dicom.load import nothing_loadable, plan_volumes

    if label_objects.label_object_paths(args.paths):
        return label_objects.info(args)

    skipped: list[Skipped] = []
    plans = run_job(Job(plan_volumes, args.paths, skipped, args.scaling), cli_progress() or no_progress)
    if not plans:
        raise nothing_loadable(args.paths, skipped)
    volumes = [describe(p) for p in plans]
    if args.json:
        json.dump(volumes, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(volumes)
    report_skipped("info", skipped)
    return 0


def print_table(volumes: list[dict[str, object]]) -> None:
    header = f"{'#':>3}  {'modality':8}  {'size':18}  {'spacing (mm)':22}  {'files':>5}  description / series UID"
    print(header)
    for n, v in enumerate(volumes, 1):
        size = " x ".join(str(s) for s in v["size"])
        spacing = " x ".join(f"{s:.4g}" for s in v["spacing"])
        print(f"{n:>3}  {v['modality']:8}  {size:18}  {spacing:22}  {v['files']:>5}  "
              f"{v['description'] or '(no description)'}")
        print(f"{'':>3}  {'':8}  origin {', '.join(f'{o:.2f}' for o in v['origin'])} mm  {v['series_uid']}")
        for warning in v["warnings"]:
            print(f"{'':>3}  warning: {warning}")
