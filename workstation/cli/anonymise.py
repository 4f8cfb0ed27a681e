"""``workstation anonymise SRC... -o OUT``: anonymised copies of a study, for sharing outside the hospital.

Applies the DICOM PS3.15 Basic Application Level Confidentiality Profile
(``workstation.dicom.anonymise``). Sources (files or folders) are read only;
the copies appear in OUT when done. Files whose pixels may show burned-in
text are listed: the profile cannot clean pixels, a person must look.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workstation.dicom.anonymise import AnonymisationOptions, anonymise_study
from workstation.dicom.scan import list_files
from workstation.jobs import Job, StderrProgress, no_progress, run_job


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "anonymise", help="write anonymised copies of DICOM files or folders (PS3.15 Basic Profile)",
        description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="DICOM files or folders (searched recursively)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="folder to create (must not exist or be empty)")
    parser.add_argument("--retain-uids", action="store_true", help="keep the original UIDs (Retain UIDs Option)")
    parser.add_argument("--retain-dates", action="store_true",
                        help="keep dates and times (Retain Longitudinal Temporal Information Full Dates Option)")
    parser.add_argument("--pseudonym", default="", help="Patient's Name and Patient ID of the copies (default: empty)")
    parser.set_defaults(func=run)


def source_files(sources: list[Path]) -> list[Path]:
    """Files named, every file under the folders named and those their DICOMDIRs list; non-DICOM are skipped later."""
    return [Path(entry.path) for source in sources for entry in list_files(no_progress, None, source).files]


def run(args: argparse.Namespace) -> int:
    options = AnonymisationOptions(retain_uids=args.retain_uids, retain_dates=args.retain_dates,
                                   pseudonym=args.pseudonym)
    files = source_files(args.sources)
    report = run_job(Job(anonymise_study, files, args.output, options), StderrProgress())
    for entry in report.skipped:
        print(f"skipped {entry}", file=sys.stderr)
    for line in report.burned_in:
        print(f"check pixels for burned-in identity: {line}", file=sys.stderr)
    print(report.summary())
    return 0 if report.written else 2
