"""Measurement maths and model: lengths, angles, ROI statistics in real units, persistence form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workstation import geometry
from workstation.geometry import Plane
from workstation.measurements import Measurement, angle_degrees, describe, length_mm, roi_stats, values
from workstation.viewer_model.display import MprState, display_plane
from workstation.volume import Volume, VolumeMeta

SPACING = np.array([0.7, 0.9, 2.0])
DIRECTION = geometry.rotation_matrix([0, 0, 1], 90)  # i runs posterior, j runs to patient right


def phantom() -> Volume:
    """A 60 x 50 x 20 grid, background 0, a disk of radius 12 mm (value 100) around the grid's centre in every slice."""
    k, j, i = np.mgrid[0:20, 0:50, 0:60]
    v = Volume.from_parts(np.zeros((20, 50, 60), dtype=np.int16), SPACING, [5.0, -7.0, 11.0], DIRECTION,
                          VolumeMeta(modality="CT", units="HU"))
    c = v.center()
    world = v.index_to_world(np.stack([i, j, k], axis=-1).reshape(-1, 3).astype(float))
    r = np.linalg.norm((world - c)[:, :2], axis=1).reshape(v.array.shape)
    v.array[r <= 12.0] = 100
    return v


def axial_plane(v: Volume) -> Plane:
    return display_plane(v, MprState(v.center()).plane("axial"))


def test_ruler_and_angle():
    plane = Plane((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    assert length_mm(Measurement("ruler", [[0, 0, 0], [3, 4, 0]], plane)) == pytest.approx(5)
    right = Measurement("angle", [[5, 0, 0], [0, 0, 0], [0, -2, 0]], plane)
    assert angle_degrees(right) == pytest.approx(90)
    assert angle_degrees(Measurement("angle", [[1, 1, 0], [0, 0, 0], [2, 0, 0]], plane)) == pytest.approx(45)
    assert describe(right) == "90.0\N{DEGREE SIGN}"


def test_bad_measurements_are_refused():
    plane = Plane((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    with pytest.raises(ValueError, match="kind"):
        Measurement("polygon", [[0, 0, 0], [1, 1, 0]], plane)
    with pytest.raises(ValueError, match="3 points"):
        Measurement("angle", [[0, 0, 0], [1, 1, 0]], plane)


def test_round_trip_through_json_keeps_everything():
    v = phantom()
    m = Measurement("ellipse", [v.center() - [3, 4, 0], v.center() + [5, 2, 0]], axial_plane(v), "1.2.3", label="L1")
    back = Measurement.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back.uid == m.uid and back.kind == "ellipse" and back.series_uid == "1.2.3" and back.label == "L1"
    assert np.array_equal(back.points, m.points) and back.plane == m.plane
    assert values(back, v) == values(m, v)


def test_rectangle_counts_exactly_the_voxels_it_covers():
    v = phantom()
    v.array[...] = np.arange(v.array.size, dtype=np.int16).reshape(v.array.shape) % 1000
    plane = axial_plane(v)
    k = int(round(v.world_to_index(plane.center)[2]))
    # voxels i 10..19 and j 20..25 of slice k: corners on the voxels' outer edges
    lo = v.index_to_world([9.5, 19.5, k])
    hi = v.index_to_world([19.5, 25.5, k])
    stats = roi_stats(Measurement("rectangle", [lo, hi], plane), v)
    block = v.array[k, 20:26, 10:20].astype(float)
    assert stats.count == block.size
    assert stats.mean == pytest.approx(block.mean()) and stats.sd == pytest.approx(block.std(ddof=1))
    assert (stats.min, stats.max) == (block.min(), block.max())
    assert stats.area_mm2 == pytest.approx(10 * SPACING[0] * 6 * SPACING[1])
    assert stats.units == "HU"


def test_ellipse_inside_the_disk_reads_its_value_and_true_area():
    v = phantom()
    c = axial_plane(v).center
    m = Measurement("ellipse", [np.asarray(c) - [8, 6, 0], np.asarray(c) + [8, 6, 0]], axial_plane(v))
    stats = roi_stats(m, v)
    assert stats.mean == 100 and stats.sd == 0 and stats.count > 100
    assert stats.area_mm2 == pytest.approx(np.pi * 8 * 6)
    # a circle of radius 18 mm holds the whole 12 mm disk: mean = 100 x disk area / circle area
    wide = Measurement("ellipse", [np.asarray(c) - [18, 18, 0], np.asarray(c) + [18, 18, 0]], axial_plane(v))
    assert roi_stats(wide, v).mean == pytest.approx(100 * 12**2 / 18**2, rel=0.05)
    assert "mean 100.0 HU, SD 0.0, min 100, max 100" in describe(m, v)


def test_roi_in_an_oblique_plane_samples_that_plane():
    v = phantom()
    state = MprState(v.center())
    state.rotate("axial", 35)
    plane = display_plane(v, state.plane("coronal"))  # oblique and vertical: cuts the disk column
    a, b = plane.to_world(-6, -10), plane.to_world(6, 10)
    stats = roi_stats(Measurement("rectangle", [a, b], plane), v)
    assert stats.mean == 100 and stats.count > 50
    outside = Measurement("rectangle", [plane.to_world(14, -10), plane.to_world(20, 10)], plane)
    assert roi_stats(outside, v).max == 0
