"""Outlines and polygon filling: exact round trips on random masks, and fills against matplotlib's point test."""

from __future__ import annotations

import numpy as np
from matplotlib.path import Path as PolygonPath

from workstation.contours import fill, outlines


def test_random_masks_round_trip_exactly_through_their_outlines():
    rng = np.random.default_rng(3)
    for _ in range(100):
        mask = rng.random((25, 33)) < rng.uniform(0.05, 0.95)  # many pixels touching at corners only
        assert np.array_equal(fill(outlines(mask), mask.shape), mask)


def test_outlines_of_a_ring_are_an_outer_outline_and_a_hole_with_corners_only():
    mask = np.zeros((10, 10), bool)
    mask[2:8, 2:8] = True
    mask[4:6, 4:6] = False
    hole, outer = sorted(outlines(mask), key=lambda ring: np.ptp(ring[:, 0]))
    assert len(hole) == len(outer) == 4
    assert np.array_equal(np.sort(outer, axis=0)[[0, -1]], [[1.5, 1.5], [7.5, 7.5]])
    assert np.array_equal(np.sort(hole, axis=0)[[0, -1]], [[3.5, 3.5], [5.5, 5.5]])


def test_fill_agrees_with_matplotlib_on_arbitrary_polygons():
    rng = np.random.default_rng(5)
    centres = np.stack(np.meshgrid(np.arange(40), np.arange(30), indexing="xy"), axis=-1).reshape(-1, 2)
    for _ in range(50):
        polygon = rng.uniform(-5, 45, size=(rng.integers(3, 12), 2)) + 0.01 * rng.random((1, 2))
        expected = PolygonPath(polygon).contains_points(centres).reshape(30, 40)
        assert np.array_equal(fill([polygon], (30, 40)), expected)
