"""``workstation segment``, ``convert`` and ``info`` on SEG and RTSTRUCT as other tools call them: fresh
processes, real data, expectations from SimpleITK's own reader and filters, highdicom and dciodvfy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
import SimpleITK as sitk

from tests.dicom.dciodvfy import dciodvfy_errors
from tests.dicom.seg_files import highdicom_seg, overlapping_masks
from tests.dicom.test_rtstruct import expected_from_contours
from workstation.dicom.load import load_volumes
from workstation.jobs import no_progress

pytestmark = pytest.mark.filterwarnings("ignore:.*intended person name")  # highdicom on the samples' patient name

INSERT_SEED = "110.8,-1.9,-111.6"  # LPS mm inside a dense rod insert of the CIRS 057A phantom (~100k voxels)
LOWER, UPPER = 150.0, 2000.0


def workstation(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workstation", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=os.environ.copy())


@pytest.fixture(scope="module")
def ct_by_simpleitk(cirs_ct: Path) -> sitk.Image:
    """The CT read by SimpleITK's own DICOM series reader (LPS), not by our loader."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(cirs_ct)))
    return reader.Execute()


@pytest.fixture(scope="module")
def expected_insert(ct_by_simpleitk: sitk.Image) -> sitk.Image:
    seed = ct_by_simpleitk.TransformPhysicalPointToIndex([float(v) for v in INSERT_SEED.split(",")])
    return sitk.ConnectedThreshold(ct_by_simpleitk, seedList=[seed], lower=LOWER, upper=UPPER,
                                   connectivity=sitk.ConnectedThresholdImageFilter.FaceConnectivity)


@pytest.mark.slow
def test_segment_writes_a_label_map_and_seg_matching_simpleitk(cirs_ct, ct_by_simpleitk, expected_insert, tmp_path):
    done = workstation("segment", cirs_ct, "--seed", INSERT_SEED, "--threshold", LOWER, UPPER, "--name", "rod",
                       "-o", tmp_path / "rod.nii.gz", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    stats = sitk.LabelIntensityStatisticsImageFilter()
    stats.Execute(expected_insert, ct_by_simpleitk)
    voxel_ml = np.prod(ct_by_simpleitk.GetSpacing()) / 1000
    assert figures["voxels"] == stats.GetNumberOfPixels(1) > 50_000
    assert figures["volume_ml"] == pytest.approx(stats.GetNumberOfPixels(1) * voxel_ml, rel=1e-9)
    assert figures["mean"] == pytest.approx(stats.GetMean(1), rel=1e-6)
    assert figures["sd"] == pytest.approx(stats.GetStandardDeviation(1), rel=1e-6)

    written = sitk.ReadImage(str(tmp_path / "rod.nii.gz"))  # NIfTI is RAS on disk; SimpleITK gives LPS back
    assert np.allclose(written.GetOrigin(), ct_by_simpleitk.GetOrigin(), atol=1e-3)
    assert np.allclose(written.GetDirection(), ct_by_simpleitk.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(expected_insert))

    done = workstation("segment", cirs_ct, "--seed", INSERT_SEED, "--threshold", LOWER, UPPER, "--name", "rod",
                       "-o", tmp_path / "rod.dcm")
    assert done.returncode == 0, done.stderr
    assert dciodvfy_errors(tmp_path / "rod.dcm") == []
    seg = hd.seg.segread(tmp_path / "rod.dcm")
    assert seg.SegmentSequence[0].SegmentLabel == "rod" and seg.SegmentSequence[0].SegmentAlgorithmType == \
        "SEMIAUTOMATIC"
    volume = seg.get_volume()  # highdicom places the frames by their positions
    expected = sitk.GetArrayFromImage(expected_insert).astype(bool)
    k0 = int(round(ct_by_simpleitk.TransformPhysicalPointToContinuousIndex(
        [float(v) for v in volume.affine[:3, 3]])[2]))
    direction = 1 if volume.affine[2, 0] > 0 else -1
    frames = volume.array[..., 0] if volume.array.ndim == 4 else volume.array
    ks = k0 + direction * np.arange(frames.shape[0])
    assert np.array_equal(frames.astype(bool), expected[ks])
    assert expected.sum() == frames.sum()

    done = workstation("info", tmp_path / "rod.dcm", "--json")
    assert done.returncode == 0, done.stderr
    [listed] = json.loads(done.stdout)
    [segment] = listed["segments"]
    assert segment["label"] == "rod" and segment["voxels"] == figures["voxels"]
    assert segment["volume_ml"] == pytest.approx(figures["volume_ml"])


def test_segment_refuses_a_seed_outside_in_one_line(seg_samples, tmp_path):
    done = workstation("segment", seg_samples / "dcmqi" / "24x38x3" / "image", "--seed", "0,0,500",
                       "--threshold", "-100", "100", "-o", tmp_path / "out.nii.gz")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "outside the image" in done.stderr
    assert not (tmp_path / "out.nii.gz").exists()


def test_convert_seg_with_overlapping_segments_writes_one_map_per_layer(seg_samples, tmp_path):
    images = seg_samples / "dcmqi" / "24x38x3" / "image"
    masks = overlapping_masks((3, 38, 24))[..., :2]
    highdicom_seg(images, masks).save_as(tmp_path / "overlap.dcm")
    done = workstation("convert", tmp_path / "overlap.dcm", "--reference", images, "-o", tmp_path / "labels.nii.gz")
    assert done.returncode == 0, done.stderr
    assert "overlap" in done.stderr and "labels-1.nii.gz, labels-2.nii.gz" in done.stderr
    assert not (tmp_path / "labels.nii.gz").exists()
    [reference] = load_volumes(no_progress, None, images).volumes
    for n in (1, 2):
        written = sitk.ReadImage(str(tmp_path / f"labels-{n}.nii.gz"))
        assert np.allclose(written.GetOrigin(), reference.origin, atol=1e-3)
        assert np.array_equal(sitk.GetArrayFromImage(written), masks[..., n - 1] * n)


def test_convert_dcmqi_seg_without_images_on_its_own_geometry(seg_samples, tmp_path):
    dcmqi = seg_samples / "dcmqi" / "24x38x3"
    done = workstation("convert", dcmqi / "seg" / "label.seg", "-o", tmp_path / "liver.nrrd")
    assert done.returncode == 0, done.stderr
    written, truth = sitk.ReadImage(str(tmp_path / "liver.nrrd")), sitk.ReadImage(str(dcmqi / "nrrd" / "label.nrrd"))
    assert np.allclose(written.GetOrigin(), truth.GetOrigin(), atol=1e-3)
    assert np.allclose(written.GetSpacing(), truth.GetSpacing(), atol=1e-4)
    assert np.array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(truth))


def test_convert_rtstruct_finds_its_ct_beside_it(seg_samples, tmp_path):
    rt = seg_samples / "rt-utils"
    done = workstation("convert", rt / "rt.dcm", "-o", tmp_path / "rt.nii.gz")
    assert done.returncode == 0, done.stderr
    [ct] = load_volumes(no_progress, None, [rt / "ct_1.dcm", rt / "ct_2.dcm"]).volumes
    written = sitk.ReadImage(str(tmp_path / "rt.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(written), expected_from_contours(rt / "rt.dcm", ct))
    assert np.allclose(written.GetOrigin(), ct.origin, atol=1e-3)


def test_info_lists_segments_with_volumes(seg_samples):
    dcmqi = seg_samples / "dcmqi"
    done = workstation("info", dcmqi / "24x38x3" / "seg" / "label.seg", dcmqi / "sparse-labelmap-ppv5.dcm", "--json")
    assert done.returncode == 0, done.stderr
    binary, label_map = json.loads(done.stdout)
    truth = sitk.ReadImage(str(dcmqi / "24x38x3" / "nrrd" / "label.nrrd"))
    voxels = int(sitk.GetArrayFromImage(truth).sum())
    [liver] = binary["segments"]
    assert binary["modality"] == "SEG" and liver["label"] == "Liver" and liver["voxels"] == voxels
    assert liver["volume_ml"] == pytest.approx(voxels * np.prod(truth.GetSpacing()) / 1000)
    assert [s["label"] for s in label_map["segments"]] == ["Liver"]


def test_convert_of_a_damaged_seg_says_one_line_and_writes_nothing(seg_samples, tmp_path):
    import pydicom

    dataset = pydicom.dcmread(seg_samples / "dcmqi" / "24x38x3" / "seg" / "label.seg")
    dataset.PixelData = dataset.PixelData[:7]
    dataset.save_as(tmp_path / "bad.seg")
    done = workstation("convert", tmp_path / "bad.seg", "-o", tmp_path / "out.nii.gz")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert str(tmp_path / "bad.seg") in done.stderr and "damaged pixel data" in done.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.seg"]


def test_convert_with_a_reference_that_is_not_the_referenced_series_is_refused(seg_samples, tmp_path):
    other_images = seg_samples / "dcmqi" / "24x38x3" / "image"
    done = workstation("convert", seg_samples / "rt-utils" / "rt.dcm", "--reference", other_images,
                       "-o", tmp_path / "rt.nii.gz")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert str(other_images) in done.stderr and "none of the series" in done.stderr
    assert not list(tmp_path.iterdir())
    done = workstation("convert", seg_samples / "rt-utils" / "rt.dcm", "--reference", tmp_path,
                       "-o", tmp_path / "rt.nii.gz")  # a folder without images at all
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and str(tmp_path) in done.stderr


def test_a_segment_of_a_seg_is_a_registration_mask(seg_samples, tmp_path):
    from workstation.cli.register import load_mask

    images = seg_samples / "dcmqi" / "24x38x3" / "image"
    masks = overlapping_masks((3, 38, 24))
    highdicom_seg(images, masks).save_as(tmp_path / "overlap.dcm")
    [reference] = load_volumes(no_progress, None, images).volumes
    for spec, expected in ((f"{tmp_path / 'overlap.dcm'}:2", masks[..., 1]), (f"{tmp_path / 'overlap.dcm'}:S3",
                                                                              masks[..., 2]),
                           (str(tmp_path / "overlap.dcm"), masks.any(axis=-1))):
        mask = load_mask(spec)  # overlapping segments: picked from whichever label map holds them
        assert mask.array.dtype == np.uint8 and np.array_equal(mask.array, expected), spec
        assert np.allclose(mask.affine, reference.affine, atol=1e-6)  # on its own geometry, the images' grid

    done = workstation("register", images, images, "-o", tmp_path / "t.tfm", "--fixed-mask",
                       f"{tmp_path / 'overlap.dcm'}:liver")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"{tmp_path / 'overlap.dcm'}: no segment 'liver' (there are: 1 S1, 2 S2, 3 S3)" in done.stderr
    assert not (tmp_path / "t.tfm").exists()
