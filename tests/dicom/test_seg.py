"""DICOM SEG in and out: dcmqi's SEGs against the label maps they came from, highdicom-made overlapping,
fractional and position-less SEGs, our own SEGs checked by dciodvfy and read back by highdicom."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tests.dicom.dciodvfy import dciodvfy_errors
from tests.dicom.seg_files import highdicom_seg, overlapping_masks
from workstation.dicom.load import load_volumes
from workstation.dicom.seg import read_seg, write_seg
from workstation.errors import DicomError
from workstation.jobs import no_progress
from workstation.labels import LESION, LabelMap, default_segment
from workstation.volume import Volume

pytestmark = pytest.mark.filterwarnings("ignore:.*intended person name")  # highdicom on the samples' patient name


def nrrd(path: Path) -> sitk.Image:
    return sitk.ReadImage(str(path))


def assert_same_grid(labels: LabelMap, image: sitk.Image) -> None:
    """Geometry compared in LPS: SimpleITK reads NRRD into LPS."""
    assert np.allclose(labels.volume.origin, image.GetOrigin(), atol=1e-3)
    assert np.allclose(labels.volume.spacing, image.GetSpacing(), atol=1e-4)
    assert np.allclose(labels.volume.direction.ravel(), image.GetDirection(), atol=1e-6)


@pytest.fixture(scope="module")
def dcmqi(seg_samples: Path) -> Path:
    return seg_samples / "dcmqi"


@pytest.fixture(scope="module")
def image_24(dcmqi: Path) -> Volume:
    [volume] = load_volumes(no_progress, None, dcmqi / "24x38x3" / "image").volumes
    return volume


@pytest.mark.parametrize("case", ["23x38x3", "24x38x3"])
@pytest.mark.parametrize("with_images", [True, False])
def test_dcmqi_binary_seg_matches_its_label_map(dcmqi, case, with_images):
    reference = load_volumes(no_progress, None, dcmqi / case / "image").volumes[0] if with_images else None
    [labels] = read_seg(dcmqi / case / "seg" / "label.seg", reference)
    truth = nrrd(dcmqi / case / "nrrd" / "label.nrrd")
    assert_same_grid(labels, truth)
    assert np.array_equal(labels.array, sitk.GetArrayFromImage(truth))
    [liver] = labels.segments
    assert (liver.label, liver.type.meaning, liver.algorithm_type) == ("Liver", "Liver", "SEMIAUTOMATIC")
    assert labels.array.dtype == np.uint8


@pytest.mark.parametrize("name", ["noppv", "ppv5"])
def test_dcmqi_sparse_label_map_seg_matches_its_label_map(dcmqi, image_24, name):
    [labels] = read_seg(dcmqi / f"sparse-labelmap-{name}.dcm", image_24)
    truth = nrrd(dcmqi / f"sparse_labelmap_{name}_seg.nrrd")
    assert_same_grid(labels, truth)
    expected = sitk.GetArrayFromImage(truth)
    expected[expected == 5] = 0  # dcmqi wrote the pixel padding value 5 where no frame was stored
    assert np.array_equal(labels.array, expected)
    assert [s.number for s in labels.segments] == [1]  # segment 0 (background) is no segment


def test_overlapping_segments_come_as_several_maps_without_overlap(dcmqi, image_24, tmp_path):
    masks = overlapping_masks(image_24.array.shape)
    highdicom_seg(dcmqi / "24x38x3" / "image", masks).save_as(tmp_path / "overlap.dcm")
    maps = read_seg(tmp_path / "overlap.dcm", image_24)
    assert [[s.number for s in m.segments] for m in maps] == [[1, 3], [2]]
    for n in (1, 2, 3):
        [holder] = [m for m in maps if n in {s.number for s in m.segments}]
        assert np.array_equal(holder.array == n, masks[..., n - 1] == 1)


def test_fractional_seg_is_thresholded_at_one_half(dcmqi, image_24, tmp_path):
    fractions = np.zeros((*image_24.array.shape, 1), dtype=np.float32)
    fractions[1, 10:20, 5:15, 0] = 0.8
    fractions[1, 20:25, 5:15, 0] = 0.3
    highdicom_seg(dcmqi / "24x38x3" / "image", fractions, "FRACTIONAL").save_as(tmp_path / "frac.dcm")
    [labels] = read_seg(tmp_path / "frac.dcm", image_24)
    assert np.array_equal(labels.array == 1, fractions[..., 0] > 0.5)


def _without_positions(seg: hd.seg.Segmentation, path: Path) -> None:
    for item in seg.PerFrameFunctionalGroupsSequence:
        del item.PlanePositionSequence
    seg.save_as(path)


def test_frames_without_positions_are_placed_through_their_source_images(dcmqi, image_24, tmp_path):
    masks = overlapping_masks(image_24.array.shape)[..., :1]
    _without_positions(highdicom_seg(dcmqi / "24x38x3" / "image", masks), tmp_path / "nopos.dcm")
    [labels] = read_seg(tmp_path / "nopos.dcm", image_24)
    assert np.array_equal(labels.array == 1, masks[..., 0] == 1)
    with pytest.raises(DicomError, match=r"nopos.dcm: .*not loaded"):
        read_seg(tmp_path / "nopos.dcm", None)


def test_written_seg_passes_dciodvfy_and_reads_back_in_highdicom(dcmqi, image_24, tmp_path):
    labels = LabelMap.empty_like(image_24, [default_segment(2, "lesion"), default_segment(5, "organ")])
    labels.segments[0].category = labels.segments[0].type = LESION
    labels.segments[0].algorithm_type, labels.segments[0].algorithm_name = "SEMIAUTOMATIC", "region growing"
    labels.array[0:2, 5:15, 5:10] = 2
    labels.array[2, 20:30, 10:20] = 5
    out = write_seg(no_progress, None, labels, image_24, tmp_path / "ours.dcm")
    assert dciodvfy_errors(out) == []

    seg = hd.seg.segread(out)
    assert str(seg.SeriesInstanceUID) != image_24.meta.series_uid
    assert [str(s.SeriesInstanceUID) for s in seg.ReferencedSeriesSequence] == [image_24.meta.series_uid]
    described = {int(s.SegmentNumber): s for s in seg.SegmentSequence}
    assert described[1].SegmentLabel == "lesion" and described[1].SegmentAlgorithmType == "SEMIAUTOMATIC"
    assert described[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == LESION.value
    assert described[1].SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT"
    assert described[2].SegmentAlgorithmType == "MANUAL"
    assert int(seg.NumberOfFrames) == 3  # empty frames left out: 2 of segment 1, 1 of segment 2
    by_source = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): k
                 for p in image_24.meta.extra["paths"]
                 for k in [int(round(image_24.world_to_index(
                     pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient)[2]))]}
    uids = [uid for _, _, uid in sorted(seg.get_source_image_uids())]
    ordered = sorted(uids, key=lambda uid: by_source[uid])
    pixels = seg.get_pixels_by_source_instance(ordered, segment_numbers=[1, 2])
    assert np.array_equal(pixels[..., 0] == 1, labels.array == 2)
    assert np.array_equal(pixels[..., 1] == 1, labels.array == 5)

    [back] = read_seg(out, image_24)
    assert np.array_equal(back.array == 1, labels.array == 2) and np.array_equal(back.array == 2, labels.array == 5)
    assert back.segments[0].colour == pytest.approx(labels.segments[0].colour, abs=1)


def _damage(source: Path, target: Path, change) -> Path:
    dataset = pydicom.dcmread(source)
    change(dataset)
    dataset.save_as(target)
    return target


def _shift_frame(dataset: pydicom.Dataset) -> None:
    dataset.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient[2] -= 100


def _truncate(dataset: pydicom.Dataset) -> None:
    dataset.PixelData = dataset.PixelData[:10]


def _other_frame_of_reference(dataset: pydicom.Dataset) -> None:
    dataset.FrameOfReferenceUID = "1.2.3.4"


def _between_voxels(dataset: pydicom.Dataset) -> None:
    dataset.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0].ImagePositionPatient[0] += 0.3


@pytest.mark.parametrize("change, reason", [
    (_shift_frame, "frame 1 lies outside the images' grid"),
    (_truncate, "damaged pixel data"),
    (_other_frame_of_reference, "another frame of reference"),
    (_between_voxels, "frame 2 does not lie on the images' voxel grid"),
])
def test_a_seg_that_does_not_fit_is_refused_in_one_line(dcmqi, image_24, tmp_path, change, reason):
    bad = _damage(dcmqi / "24x38x3" / "seg" / "label.seg", tmp_path / "bad.seg", change)
    with pytest.raises(DicomError) as caught:
        read_seg(bad, image_24)
    message = str(caught.value)
    assert message.startswith(f"{bad}: ") and reason in message and "\n" not in message
