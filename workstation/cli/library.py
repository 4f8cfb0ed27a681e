"""``workstation library list --json``: what the study library holds, with counts and transfer state.

Patients, their studies and series, each series with its number of files and
its state (complete, receiving while a transfer is under way, incomplete when
one failed). A study's state is its least finished series'.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workstation.dicom.library import SeriesRow


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("library", help="list the study library", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="library_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="patients, studies and series with counts and state")
    listing.add_argument("--json", action="store_true", help="JSON output (the only format; accepted for scripts)")
    listing.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    from workstation.dicom.library import Library

    with Library() as library:
        patients = library.tree()
    json.dump([{
        "patient_id": p.patient_id, "patient_name": p.patient_name, "birth_date": p.birth_date, "sex": p.sex,
        "studies": [{
            "study_uid": st.study_uid, "study_date": st.study_date, "description": st.description,
            "accession_number": st.accession_number, "state": st.state,
            "instances": sum(se.instances for se in st.series),
            "series": [_series(se) for se in st.series]} for st in p.studies]} for p in patients],
              sys.stdout, indent=1)
    print()
    return 0


def _series(row: SeriesRow) -> dict[str, object]:
    """One series; the SEG and RTSTRUCT series drawn on it are listed under it, as the library files them."""
    return {"series_uid": row.series_uid, "modality": row.modality, "series_number": row.series_number,
            "description": row.description, "instances": row.instances, "state": row.state,
            "segmentations": [_series(seg) for seg in row.segmentations]}
