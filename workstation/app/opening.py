"""Open a folder or a file without importing it: headers, then volume plans.

Why a job of its own: "Open folder" must list series quickly and leave the
library untouched. Folders go through ``scan.scan_folder`` (DICOMDIR aware,
parallel for large trees); a single dropped file is read directly. Files left
out are summarised by reason, one line each, not listed one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from workstation.dicom.assemble import SeriesPlan, assemble
from workstation.dicom.header import read_header
from workstation.dicom.scan import scan_folder, skip_reasons
from workstation.jobs import CancelFlag, Progress


@dataclass
class Opened:
    """The plans found under ``path`` and one line per kind of file left out."""

    path: str
    plans: list[SeriesPlan]
    notes: list[str] = field(default_factory=list)


def open_path(progress: Progress, cancel: CancelFlag | None, path: str | PathLike[str]) -> Opened:
    """Job: plan the volumes of a folder or of one file; ``DicomError`` for a file that is not DICOM."""
    p = Path(path)
    left_out: list[str] = []
    if p.is_dir():
        scan = scan_folder(progress, cancel, p)
        headers = scan.headers
        notes = [f"{p}: {count} file(s) skipped: {reason}" for reason, count in scan.skipped_reasons().items()]
    else:
        headers = [read_header(p)]
        notes = []
    plans = assemble(headers, left_out)
    notes += [f"{p}: {count} image(s) left out: {reason}"
              for reason, count in skip_reasons([("", line.split(": ", 1)[-1]) for line in left_out]).items()]
    return Opened(str(p), plans, notes)
