"""Measurements saved with their series in the library's SQLite file, and restored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from workstation import paths
from workstation.dicom.library import Library
from workstation.dicom.measurement_store import MeasurementStore
from workstation.geometry import standard_plane
from workstation.jobs import no_progress
from workstation.measurements import Measurement


def _ruler(series: str, length: float) -> Measurement:
    plane = standard_plane("axial", [0.0, 0.0, 10.0])
    return Measurement("ruler", [[0, 0, 10], [length, 0, 10]], plane, series, label=f"r{length}")


def test_saved_measurements_come_back_equal_in_order_per_series(tmp_path: Path) -> None:
    store = MeasurementStore()
    assert store.path == paths.library_path()  # the library's file, in this test's WORKSTATION_HOME
    a = [_ruler("1.2.3", 10.0).to_dict(), _ruler("1.2.3", 5.5).to_dict()]
    b = [_ruler("1.2.4", 7.0).to_dict()]
    store.save("1.2.3", a)
    store.save("1.2.4", b)
    again = MeasurementStore()  # a new program run
    assert again.load("1.2.3") == a
    restored = [Measurement.from_dict(d) for d in again.load("1.2.3")]
    np.testing.assert_array_equal(restored[1].points, [[0, 0, 10], [5.5, 0, 10]])
    assert again.measured_series() == {"1.2.3", "1.2.4"}
    again.save("1.2.3", a[:1])  # an edit replaces the list
    assert again.load("1.2.3") == a[:1]
    again.save("1.2.3", [])
    assert again.load("1.2.3") == [] and again.measured_series() == {"1.2.4"}


def test_the_table_lives_in_the_library_file_and_survives_it(tmp_path: Path, cirs_mr: Path) -> None:
    db_path = tmp_path / "library.sqlite"
    store = MeasurementStore(db_path)  # first user of the file: the library's schema is made first
    store.save("1.2.3", [_ruler("1.2.3", 1.0).to_dict()])
    with Library(db_path) as library:  # the library accepts the file and imports into it
        assert library.rebuilt is None
        library.import_folder(no_progress, None, cirs_mr)
        assert library.counts()["series"] == 1
    with sqlite3.connect(db_path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"series_measurements", "series", "instances", "schema_version"} <= tables
    assert MeasurementStore(db_path).load("1.2.3")[0]["label"] == "r1.0"
