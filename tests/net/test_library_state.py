"""Transfer state in the library, and a library of schema 1 (before it) kept and migrated in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from workstation.dicom.library import Library


def test_schema_1_library_is_migrated_with_its_rows(tmp_path: Path, cirs_ct: Path) -> None:
    path = tmp_path / "library.sqlite"
    with Library(path) as library:
        library.import_folder(None, None, cirs_ct)
    with sqlite3.connect(path) as conn:  # make it what the previous release wrote
        conn.execute("DROP TABLE transfer_state")
        conn.execute("UPDATE schema_version SET version = 1")
    with Library(path) as library:
        assert library.rebuilt is None
        (patient,) = library.tree()
        (study,) = patient.studies
        assert (study.state, study.series[0].instances) == ("complete", 283)
        library.set_state([(study.study_uid, study.series[0].series_uid)], "incomplete")
        assert library.tree()[0].studies[0].state == "incomplete"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (2,)
