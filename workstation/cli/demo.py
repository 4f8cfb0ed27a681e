"""``workstation demo-data DIR``: write the synthetic head phantom study (CT + MR) as DICOM.

It gives anyone a study with a known CT-to-MR alignment to try the viewer,
the library and registration on, without real patient data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workstation import demo
from workstation.jobs import Job, StderrProgress, run_job


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data", help="write the demo head phantom (CT and MR DICOM series) into a new folder",
        description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder to create (it must not exist or be empty)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folder = run_job(Job(demo.write_demo_study, args.folder), StderrProgress())
    for acq in (demo.CT, demo.MR):
        print(f"{folder / acq.folder}: {acq.size[2]} {acq.modality} files, {acq.description}")
    print(f"{folder / demo.GROUND_TRUTH_FILE}: true MR-to-CT transform and landmarks (LPS mm)")
    return 0
