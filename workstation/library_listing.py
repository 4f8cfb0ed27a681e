"""The library's series as volume plans, and importing a folder into it, as jobs for the window.

Why plans: the browser shows each volume with its assembly warnings, and the
loader needs a plan anyway. The library keeps every header, so planning a
series opens no file; it happens once per listing, in the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

from workstation.dicom.assemble import SeriesPlan, assemble
from workstation.dicom.library import ImportResult, Library
from workstation.dicom.scan import skip_reasons
from workstation.jobs import CancelFlag, Progress, check_cancel, scaled_progress


@dataclass
class Imported:
    """What an import brought, the library's plans afterwards and one line per kind of file skipped."""

    result: ImportResult
    plans: list[SeriesPlan]
    notes: list[str]


def library_plans(progress: Progress, cancel: CancelFlag | None, library: Library) -> list[SeriesPlan]:
    """Job: every volume of the library, planned from the stored headers."""
    uids = [series.series_uid for patient in library.tree() for study in patient.studies for series in study.series]
    plans: list[SeriesPlan] = []
    for n, uid in enumerate(uids):
        check_cancel(cancel)
        plans.extend(assemble(library.series_headers(uid)))
        progress((n + 1) / len(uids), "listing the library")
    return plans


def import_and_list(progress: Progress, cancel: CancelFlag | None, library: Library,
                    folder: str | PathLike[str]) -> Imported:
    """Job: import ``folder`` (only new or changed files are read), then list the library."""
    result = library.import_folder(scaled_progress(progress, 0.0, 0.8), cancel, folder)
    plans = library_plans(scaled_progress(progress, 0.8, 1.0), cancel, library)
    notes = [f"{result.folder}: {count} file(s) skipped: {reason}"
             for reason, count in skip_reasons(result.skipped).items()]
    return Imported(result, plans, notes)
