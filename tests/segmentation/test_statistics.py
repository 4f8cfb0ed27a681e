"""Segment statistics against SimpleITK's label statistics filters and a sphere's known volume and surface."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from segmentation.paint import paint
from segmentation.statistics import segment_statistics, write_csv
from tests.segmentation.grids import labels_on, oblique_grid
from workstation.jobs import no_progress


def test_statistics_match_simpleitk_and_a_sphere_geometry(tmp_path):
    grid = oblique_grid((60, 70, 70), spacing=(0.6, 0.6, 0.9))
    rng = np.random.default_rng(7)
    grid.array[:] = rng.normal(40, 12, grid.array.shape).astype(np.float32)
    labels = labels_on(grid, 1, 2, 3)
    centre = grid.index_to_world([35, 35, 30]) + [0.11, 0.07, -0.13]
    paint(labels, 1, centre, 12.0)
    paint(labels, 2, grid.index_to_world([8, 8, 8]), 3.0)
    stats = {s.number: s for s in segment_statistics(no_progress, None, labels, grid)}

    shape = sitk.LabelShapeStatisticsImageFilter()
    intensity = sitk.LabelIntensityStatisticsImageFilter()
    shape.Execute(labels.volume.to_sitk())
    intensity.Execute(labels.volume.to_sitk(), grid.to_sitk())
    for n in (1, 2):
        assert stats[n].voxels == shape.GetNumberOfPixels(n)
        assert stats[n].volume_ml == pytest.approx(shape.GetPhysicalSize(n) / 1000, rel=1e-9)
        assert stats[n].mean == pytest.approx(intensity.GetMean(n), rel=1e-6)
        assert stats[n].sd == pytest.approx(intensity.GetStandardDeviation(n), rel=1e-6)
        assert stats[n].minimum == pytest.approx(intensity.GetMinimum(n))
        assert stats[n].maximum == pytest.approx(intensity.GetMaximum(n))
        assert stats[n].median == pytest.approx(intensity.GetMedian(n), abs=0.5)  # ITK's median is a histogram's
    assert stats[1].volume_ml == pytest.approx(4 / 3 * np.pi * 12.0 ** 3 / 1000, rel=0.02)
    assert stats[1].surface_mm2 == pytest.approx(4 * np.pi * 12.0 ** 2, rel=0.05)
    assert stats[3].voxels == 0 and stats[3].mean is None and stats[3].volume_ml == 0
    assert stats[1].units == "HU"

    write_csv(list(stats.values()), tmp_path / "stats.csv")
    rows = list(csv.DictReader(open(tmp_path / "stats.csv")))
    assert [int(r["number"]) for r in rows] == [1, 2, 3] and float(rows[0]["volume_ml"]) == stats[1].volume_ml
