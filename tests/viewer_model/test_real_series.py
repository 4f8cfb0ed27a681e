"""The viewer model on real series, checked against dcm2niix and SimpleITK: 4D time points, image files in LPS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from workstation.image_io import read_image, write_volume
from workstation.jobs import no_progress
from workstation.opening import open_volume
from workstation.viewer_model import ViewerModel
from workstation.volume import Volume

DCM2NIIX = Path(sys.executable).with_name("dcm2niix")


def dcm2niix(source: Path, out: Path, *options: str) -> Path:
    """dcm2niix's NIfTI of ``source`` (uncompressed), the reference converter's geometry and values."""
    out.mkdir()
    done = subprocess.run([str(DCM2NIIX), *options, "-z", "n", "-f", "ref", "-o", str(out), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out / "ref.nii"


def test_a_4d_series_steps_through_its_time_points_and_the_probe_matches_dcm2niix(unpacked_data: Path,
                                                                                  tmp_path: Path):
    """Philips fMRI (3 dynamics): the probe's value over time is dcm2niix's at the same LPS point.

    ``-p n``: dcm2niix's display scaling (RescaleSlope/Intercept), what the viewer shows for Philips data.
    """
    series = unpacked_data / "dcm_qa_vendor" / "philips" / "In" / "Magdeburg_2014"
    reference = sitk.ReadImage(str(dcm2niix(series, tmp_path / "ref", "-p", "n")))
    model = ViewerModel()
    model.set_image(open_volume(no_progress, None, series))
    slot = model.slot()
    assert slot.volume.timepoints == reference.GetSize()[3] == 3
    rng = np.random.default_rng(7)
    volume = slot.volume
    for ijk in np.stack([rng.integers(0, n, 12) for n in volume.shape_ijk], axis=1):
        lps = volume.index_to_world(ijk)
        # dcm2niix's voxel at that LPS point, found through SimpleITK's own geometry (LPS physical space)
        index = reference.TransformPhysicalPointToIndex((*map(float, lps), 0.0))
        expected = [reference[(*index[:3], t)] for t in range(3)]
        for t in range(3):
            model.set_time_point(t)
            probe = slot.probe(lps)
            assert probe["time_point"] == t and probe["value"] == expected[t]
        assert slot.values_over_time(lps).tolist() == expected


def test_an_oblique_nifti_from_dcm2niix_opens_in_the_place_of_its_dicom(decubitus: Path, tmp_path: Path):
    """The decubitus head phantom (HFDL, sagittal): dcm2niix's NIfTI (RAS on disk) lands on the DICOM's LPS grid."""
    dicom = open_volume(no_progress, None, decubitus / "HFDL")
    nifti = read_image(dcm2niix(decubitus / "HFDL", tmp_path / "ref"))
    corners = np.array([[i, j, k] for i in (0, 255) for j in (0, 255) for k in (0, 34)], dtype=float)
    # the same corner points in world space (the index order may differ: dcm2niix may flip rows)
    dicom_corners = {tuple(np.round(p, 2)) for p in dicom.index_to_world(corners)}
    nifti_corners = {tuple(np.round(p, 2)) for p in nifti.index_to_world(corners)}
    assert dicom_corners == nifti_corners
    rng = np.random.default_rng(1)
    for ijk in np.stack([rng.integers(0, n, 30) for n in dicom.shape_ijk], axis=1):
        lps = dicom.index_to_world(ijk)
        assert nifti.value_at(lps) == dicom.value_at(lps)


def real_series(unpacked_data: Path, shared_data: Path) -> list[Path]:
    return [unpacked_data / "cirs057a" / "ct", unpacked_data / "cirs057a" / "mr", shared_data / "dcm_qa_ts",
            shared_data / "dcm_qa_decubitus", unpacked_data / "dcm_qa_vendor"]


def test_every_real_series_opens_in_a_readable_window(unpacked_data: Path, shared_data: Path):
    """No series opens with most of its object white; header windows stay among the presets.

    The cirs057a MR's own slices (read with pydicom) state different windows,
    none of which is the series': it opens from its foreground instead.
    """
    from workstation.dicom.load import load_volumes

    mr_windows = {(float(ds.WindowCenter), float(ds.WindowWidth)) for ds in
                  (pydicom.dcmread(p, stop_before_pixels=True) for p in (unpacked_data / "cirs057a" / "mr").iterdir())}
    assert len(mr_windows) > 1
    for folder in real_series(unpacked_data, shared_data):
        for volume in load_volumes(no_progress, None, folder).volumes:
            model = ViewerModel()
            model.set_image(volume)
            window = model.window()
            inside = volume.array[volume.array > volume.array.mean()]
            name = f"{folder.name} {volume.meta.description}"
            assert np.mean(inside >= window.upper) <= 0.5, f"{name}: {window} whites out the object"
            header = [p.name for p in volume.meta.window_presets]
            assert model.preset_names()[:len(header)] == header, name
            if folder.name == "mr":
                assert (window.center, window.width) not in mr_windows


def test_an_integer_file_opens_as_labels_on_its_image_and_another_grid_is_refused(shared_data: Path,
                                                                                 tmp_path: Path):
    """dcmqi's label map (NRRD, made on these three CT images) lands voxel for voxel on the DICOM's grid."""
    from workstation.opening import OpenError, open_labels
    from workstation.viewer_model import LabelsLayer

    case = shared_data / "seg_samples" / "dcmqi" / "23x38x3"
    image = open_volume(no_progress, None, case / "image")
    labels = open_labels(no_progress, None, case / "nrrd" / "label.nrrd", image)
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(case / "nrrd" / "label.nrrd")))
    assert np.array_equal(labels.array, reference) and [s.number for s in labels.segments] == [1]
    model = ViewerModel()
    model.set_image(image)
    model.set_labels(LabelsLayer(labels))
    assert model.slot().labels.labels is labels
    other = open_volume(no_progress, None, shared_data / "seg_samples" / "dcmqi" / "ct-3slice")
    with pytest.raises(OpenError, match="another grid"):
        open_labels(no_progress, None, shared_data / "seg_samples" / "dcmqi" / "sparse_labelmap_noppv_seg.nrrd", other)
    fractions = Volume(np.full(image.array.shape, 0.5, dtype=np.float32), image.affine.copy())
    write_volume(fractions, tmp_path / "fractions.nii")
    with pytest.raises(OpenError, match="not a label map"):
        open_labels(no_progress, None, tmp_path / "fractions.nii", image)
