"""``workstation scan FOLDER``: import a folder into the study library and show what it holds.

Prints patients, studies and series (with the volumes each series assembles
into and their warnings), then a summary: files read, files skipped by
reason, and how many files were new, changed, unchanged or removed since the
last scan. Unchanged files are not read again. Patient names and IDs go to
the terminal only (never to the log); ``--anonymous`` hides them there too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.cli.info import cli_progress
from workstation.errors import DicomError
from workstation.jobs import Job, no_progress, run_job

if TYPE_CHECKING:
    from workstation.dicom.library import Library, PatientRow


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("scan", help="import a DICOM folder into the study library and list it",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, metavar="FOLDER", help="folder, DICOMDIR or file to import")
    parser.add_argument("--anonymous", action="store_true", help="hide patient names, IDs, birth dates and "
                                                                 "accession numbers in the output")
    parser.add_argument("--list-skipped", action="store_true", help="name every skipped file and its reason")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workstation.dicom.library import Library
    from workstation.dicom.scan import skip_reasons

    with Library() as library:
        if library.rebuilt:
            print(f"workstation scan: {library.rebuilt}", file=sys.stderr)
        result = run_job(Job(library.import_folder, args.folder), cli_progress() or no_progress)
        patients = library.tree(folder=result.folder)
        for number, patient in enumerate(patients, 1):
            _print_patient(library, result.folder, number, patient, args.anonymous)
    reasons = skip_reasons(result.skipped)
    skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    print(f"{result.files_read} files read, {len(result.skipped)} skipped{f' ({skipped})' if skipped else ''}; "
          f"{result.new} new, {result.changed} changed, {result.unchanged} unchanged, {result.removed} removed")
    if args.list_skipped:
        for entry in result.skipped:
            print(f"  skipped {entry}")
    if not patients:
        raise DicomError(f"no DICOM files found ({len(result.skipped)} files skipped)", result.folder)
    return 0


def _print_patient(library: Library, folder: str, number: int, patient: PatientRow, anonymous: bool) -> None:
    from workstation.dicom.assemble import assemble

    if anonymous:
        print(f"Patient {number}")
    else:
        born = f", born {patient.birth_date}" if patient.birth_date else ""
        print(f"Patient {patient.patient_name or '(no name)'} (ID {patient.patient_id or '-'}{born})")
    for study in patient.studies:
        accession = f", accession {study.accession_number}" if study.accession_number and not anonymous else ""
        print(f"  Study {_date(study.study_date)} {study.description or '(no description)'}{accession}"
              f"  [{study.study_uid}]")
        for series in study.series:
            number_text = f"#{series.series_number}" if series.series_number is not None else "#-"
            print(f"    Series {number_text} {series.modality or '??'} {series.description or '(no description)'}: "
                  f"{series.instances} files  [{series.series_uid}]")
            left_out: list[str] = []
            for plan in assemble(library.series_headers(series.series_uid, folder), left_out):
                size = " x ".join(str(n) for n in plan.size)
                print(f"      volume {size}, {plan.reference.modality} {plan.description}".rstrip())
                for warning in plan.warnings:
                    print(f"      warning: {warning}")
            if left_out:
                print(f"      {len(left_out)} file(s) left out of the volumes, e.g. {left_out[0]}")


def _date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else (value or "(no date)")
