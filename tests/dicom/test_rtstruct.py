"""RTSTRUCT in and out: rt-utils' structure (a square with a hole) against matplotlib's point-in-polygon test,
our own structures checked by dciodvfy and read back voxel for voxel, and damaged structures refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from matplotlib.path import Path as PolygonPath

from segmentation.paint import paint
from tests.dicom.dciodvfy import dciodvfy_errors
from workstation.dicom.load import load_volumes
from workstation.dicom.rtstruct import read_rtstruct, write_rtstruct
from workstation.errors import DicomError
from workstation.jobs import no_progress
from workstation.labels import LabelMap, default_segment
from workstation.volume import Volume


@pytest.fixture(scope="module")
def rt_utils(seg_samples: Path) -> Path:
    return seg_samples / "rt-utils"


@pytest.fixture(scope="module")
def ct(rt_utils: Path) -> Volume:
    [volume] = load_volumes(no_progress, None, [rt_utils / "ct_1.dcm", rt_utils / "ct_2.dcm"]).volumes
    return volume


def expected_from_contours(path: Path, grid: Volume) -> np.ndarray:
    """Each ROI's contours filled by matplotlib (even-odd across a slice's contours), voxel centres in LPS."""
    dataset = pydicom.dcmread(path)
    out = np.zeros(grid.array.shape, dtype=np.uint8)
    centres = grid.index_to_world(np.stack(np.meshgrid(np.arange(grid.shape_ijk[0]), np.arange(grid.shape_ijk[1]),
                                                       [0], indexing="xy"), axis=-1).reshape(-1, 3))[:, :2]
    for item in dataset.ROIContourSequence:
        for contour in item.ContourSequence:
            points = np.asarray(contour.ContourData, float).reshape(-1, 3)
            k = int(round(grid.world_to_index(points[0])[2]))
            inside = PolygonPath(points[:, :2]).contains_points(centres).reshape(grid.array.shape[1:])
            out[k] ^= inside.astype(np.uint8) * int(item.ReferencedROINumber)
    return out


def test_rt_utils_structure_with_a_hole_matches_an_independent_fill(rt_utils, ct):
    [labels] = read_rtstruct(rt_utils / "rt.dcm", ct)
    assert [s.label for s in labels.segments] == ["ROI-1"] and labels.segments[0].colour == (162, 136, 95)
    expected = expected_from_contours(rt_utils / "rt.dcm", ct)
    assert np.array_equal(labels.array, expected)
    assert labels.array[0].sum() > 1000 and labels.array[1].sum() == 0
    k, j, i = np.rint(ct.world_to_index([-40.0, -40.0, 60.0])[::-1]).astype(int)  # in the hole
    assert labels.array[k, j, i] == 0
    assert labels.volume.meta.warnings  # rt-utils gave the structures a frame of reference of their own


def test_written_rtstruct_passes_dciodvfy_and_round_trips_voxel_for_voxel(ct, tmp_path):
    labels = LabelMap.empty_like(ct, [default_segment(1, "ring"), default_segment(4, "dots")])
    centre = ct.index_to_world([256, 256, 0])
    paint(labels, 1, centre, 40.0, normal=[0, 0, 1])
    labels.array[0][ct.array.shape[1] // 2 - 20:ct.array.shape[1] // 2 + 20, 236:276] = 0  # a hole
    labels.array[1, 100:110:2, 100:110:2] = 4  # pixels touching at corners only
    labels.array[1, 300:340, 300:320] = 1  # an overlap-free second piece of segment 1 on another slice
    out = write_rtstruct(no_progress, None, labels, ct, tmp_path / "rt.dcm")
    assert dciodvfy_errors(out) == []
    [back] = read_rtstruct(out, ct)
    assert np.array_equal(back.array, labels.array)
    assert np.array_equal(expected_from_contours(out, ct), labels.array)
    assert [s.label for s in back.segments] == ["ring", "dots"] and not back.volume.meta.warnings


def test_overlapping_rois_come_as_several_maps(ct, tmp_path):
    body = LabelMap.empty_like(ct, [default_segment(1, "body")])
    body.array[0, 50:400, 50:400] = 1
    path = write_rtstruct(no_progress, None, body, ct, tmp_path / "body.dcm")
    organ = LabelMap.empty_like(ct, [default_segment(2, "organ")])
    organ.array[0, 100:150, 100:150] = 2
    organ_path = write_rtstruct(no_progress, None, organ, ct, tmp_path / "organ.dcm")
    both = pydicom.dcmread(path)
    extra = pydicom.dcmread(organ_path)
    both.StructureSetROISequence.append(extra.StructureSetROISequence[0])
    both.ROIContourSequence.append(extra.ROIContourSequence[0])
    both.save_as(tmp_path / "both.dcm")
    maps = read_rtstruct(tmp_path / "both.dcm", ct)
    assert [[s.label for s in m.segments] for m in maps] == [["body"], ["organ"]]
    assert np.array_equal(maps[0].array, body.array) and np.array_equal(maps[1].array, organ.array)


def _odd_coordinates(dataset):
    dataset.ROIContourSequence[0].ContourSequence[0].ContourData = [1.0, 2.0, 60.0, 3.0]


def _off_slice(dataset):
    contour = dataset.ROIContourSequence[0].ContourSequence[1]
    data = [float(v) for v in contour.ContourData]
    data[2::3] = [62.5] * (len(data) // 3)
    contour.ContourData = data


def _outside(dataset):
    contour = dataset.ROIContourSequence[0].ContourSequence[0]
    data = [float(v) for v in contour.ContourData]
    data[2::3] = [200.0] * (len(data) // 3)
    contour.ContourData = data


def _other_frame(dataset):
    dataset.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "1.2.3"
    for item in dataset.ROIContourSequence[0].ContourSequence:
        del item.ContourImageSequence


@pytest.mark.parametrize("change, reason", [
    (_odd_coordinates, "contour 1 of ROI 1 is damaged"),
    (_off_slice, "contour 2 of ROI 1 does not lie in a slice"),
    (_outside, "contour 1 of ROI 1 lies outside the images' grid"),
    (_other_frame, "another frame of reference"),
])
def test_a_damaged_structure_set_is_refused_in_one_line(rt_utils, ct, tmp_path, change, reason):
    dataset = pydicom.dcmread(rt_utils / "rt.dcm")
    change(dataset)
    dataset.save_as(tmp_path / "bad.dcm")
    with pytest.raises(DicomError) as caught:
        read_rtstruct(tmp_path / "bad.dcm", ct)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'bad.dcm'}: ") and reason in message and "\n" not in message
