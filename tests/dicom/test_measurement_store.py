"""Measurements saved with their series in their own SQLite file, and restored."""

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
    assert store.path == paths.measurements_path()  # in this test's WORKSTATION_HOME
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


def test_measurements_survive_a_library_rebuild(cirs_mr: Path) -> None:
    """A damaged library is moved aside and rebuilt; the user's measurements stay."""
    store = MeasurementStore()
    store.save("1.2.3", [_ruler("1.2.3", 1.0).to_dict()])
    with Library() as library:
        library.import_folder(no_progress, None, cirs_mr)
    paths.library_path().write_bytes(b"this is not a database")
    with Library() as library:
        assert library.rebuilt is not None
        assert library.counts()["series"] == 0
    assert MeasurementStore().load("1.2.3")[0]["label"] == "r1.0"
    with sqlite3.connect(paths.measurements_path()) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"series_measurements"}
