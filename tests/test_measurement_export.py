"""CSV export of measurement records: fixed columns, values and units, no half files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from workstation.errors import ExportError
from workstation.geometry import standard_plane
from workstation.measurement_export import COLUMNS, record, write_csv
from workstation.measurements import Measurement
from workstation.volume import Volume, VolumeMeta


def _volume() -> Volume:
    """A 20 x 20 x 3 grid of 1 mm voxels whose value is 10 * i + j (HU)."""
    j, i = np.mgrid[0:20, 0:20]
    array = np.repeat((10 * i + j)[None].astype(np.int16), 3, axis=0)
    return Volume.from_parts(array, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], np.eye(3).ravel(),
                             VolumeMeta(modality="CT", units="HU", series_uid="1.2.9"))


def test_rows_carry_the_values_units_and_points(tmp_path: Path) -> None:
    volume = _volume()
    plane = standard_plane("axial", [10.0, 10.0, 1.0])
    ruler = Measurement("ruler", [[1, 1, 1], [4, 5, 1]], plane, "1.2.9", label="a, \"quoted\" label")
    rect = Measurement("rectangle", [[2, 3, 1], [4, 5, 1]], plane, "1.2.9")
    out = write_csv([record(ruler, volume), record(rect, volume)], tmp_path / "m.csv")
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COLUMNS
    assert rows[0]["label"] == "a, \"quoted\" label"
    assert float(rows[0]["length_mm"]) == 5.0 and rows[0]["mean"] == "" and rows[0]["intensity_unit"] == ""
    assert rows[0]["points_lps_mm"] == "1.000 1.000 1.000;4.000 5.000 1.000"
    # voxels i = 2..4, j = 3..5: values 10 i + j
    expected = np.array([10 * i + j for i in range(2, 5) for j in range(3, 6)], dtype=float)
    assert float(rows[1]["mean"]) == pytest.approx(expected.mean())
    assert (float(rows[1]["min"]), float(rows[1]["max"])) == (expected.min(), expected.max())
    assert float(rows[1]["area_mm2"]) == pytest.approx(4.0)
    assert rows[1]["intensity_unit"] == "HU" and rows[1]["length_mm"] == ""


def test_an_unwritable_target_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "m.csv"
    with pytest.raises(ExportError) as info:
        write_csv([], target)
    assert str(target) in str(info.value)
    assert not target.parent.exists()


def test_a_failure_half_way_leaves_no_file(tmp_path: Path) -> None:
    good = record(Measurement("ruler", [[0, 0, 0], [1, 0, 0]], standard_plane("axial", [0, 0, 0])), None)
    with pytest.raises(KeyError):
        write_csv([good, {"values": {}}], tmp_path / "m.csv")  # the second record has no kind
    assert list(tmp_path.iterdir()) == []
