"""Source files are never written: every input file hashes the same after scan, import, load, export and anonymise.

Run on the unpacked CIRS scans (writable, unlike ../shared/data, so a write
would succeed and be caught here), checking content, modification time and
that no file appears among the sources.
"""

from __future__ import annotations

import os
from pathlib import Path

from planted_study import sha256_tree

from workstation.dicom.anonymise import anonymise_study
from workstation.dicom.export import export_dicom_series
from workstation.dicom.library import Library
from workstation.dicom.load import load_volumes
from workstation.dicom.scan import scan_folder
from workstation.jobs import no_progress


def _state(files: list[Path]) -> tuple[dict[Path, str], dict[Path, int]]:
    return sha256_tree(files), {p: os.stat(p).st_mtime_ns for p in files}


def test_every_step_leaves_the_sources_as_they_were(cirs_ct: Path, cirs_mr: Path, tmp_path: Path) -> None:
    root = cirs_ct.parent
    files = sorted(p for p in root.rglob("*") if p.is_file())  # the 635 images and the unpacker's marker
    assert len(files) == 636
    before = _state(files)

    scan = scan_folder(no_progress, None, root)
    assert len(scan.headers) == 635
    with Library(tmp_path / "library.sqlite") as library:
        library.import_folder(no_progress, None, root)
    volume = load_volumes(no_progress, None, cirs_mr).volumes[0]
    export_dicom_series(no_progress, None, volume, tmp_path / "export", sorted(cirs_mr.iterdir())[0], "copy",
                        volume.meta.frame_of_reference_uid)
    report = anonymise_study(no_progress, None, sorted(cirs_ct.iterdir())[:40], tmp_path / "anon")
    assert len(report.written) == 40

    assert _state(files) == before
    assert sorted(p for p in root.rglob("*") if p.is_file()) == files  # nothing written among them
