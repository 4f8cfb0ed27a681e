"""Exported series: exact geometry and values back through the loader, a new series in the reference's study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from planted_study import sha256_tree

from workstation import geometry
from workstation.dicom.export import export_dicom_series
from workstation.dicom.header import read_header
from workstation.dicom.load import load_volumes
from workstation.errors import Cancelled, ExportError
from workstation.jobs import CancelToken, no_progress
from workstation.volume import Volume, VolumeMeta


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".txt")


@pytest.fixture(scope="module")
def sagittal(decubitus: Path) -> tuple[Volume, list[Path]]:
    """The decubitus-left head phantom: sagittal slices, real MR values."""
    folder = decubitus / "HFDL"
    return load_volumes(no_progress, None, folder).volumes[0], _files(folder)


def test_round_trip_is_exact_for_a_real_series(sagittal: tuple[Volume, list[Path]], tmp_path: Path) -> None:
    volume, sources = sagittal
    before = sha256_tree(sources)
    reference = read_header(sources[0])
    files = export_dicom_series(no_progress, None, volume, tmp_path / "out", reference, "round trip",
                                volume.meta.frame_of_reference_uid)
    assert sha256_tree(sources) == before
    assert len(files) == volume.array.shape[0] and all(f.is_file() for f in files)
    back = load_volumes(no_progress, None, tmp_path / "out").volumes[0]
    assert np.array_equal(back.array, volume.array)
    assert np.allclose(back.affine, volume.affine, atol=1e-6)
    assert back.meta.study_uid == volume.meta.study_uid and back.meta.series_uid != volume.meta.series_uid
    assert back.meta.frame_of_reference_uid == volume.meta.frame_of_reference_uid
    first = pydicom.dcmread(files[0])
    assert first.PatientID == reference.patient_id and str(first.PatientName) == reference.patient_name
    assert first.SOPClassUID == pydicom.uid.MRImageStorage and first.SeriesDescription == "round trip"
    assert list(first.ImageType) == ["DERIVED", "SECONDARY"]
    assert len({pydicom.dcmread(f).SOPInstanceUID for f in files}) == len(files)


def _oblique_float_volume() -> Volume:
    rng = np.random.default_rng(7)
    array = (rng.normal(100.0, 40.0, size=(6, 20, 24))).astype(np.float32)
    direction = geometry.rotation_matrix([0.3, -0.2, 0.5], 23.0)
    return Volume.from_parts(array, [0.8, 0.9, 2.5], [-12.5, 30.25, 7.0], direction,
                             VolumeMeta(modality="CT", units="HU"))


def test_float_oblique_volume_comes_back_within_half_a_step(tmp_path: Path, cirs_ct: Path) -> None:
    volume = _oblique_float_volume()
    reference = pydicom.dcmread(_files(cirs_ct)[0], stop_before_pixels=True)
    files = export_dicom_series(no_progress, None, volume, tmp_path / "out", reference, "registered", "1.2.3.4.5")
    back = load_volumes(no_progress, None, tmp_path / "out").volumes[0]
    step = float(pydicom.dcmread(files[0]).RescaleSlope)
    assert step < 0.01
    assert np.abs(back.array.astype(np.float64) - volume.array).max() <= step / 2 + 1e-6
    # geometry compared in the world: the centre of every corner voxel lands where it was
    corners = np.array([[i, j, k] for i in (0, 23) for j in (0, 19) for k in (0, 5)], dtype=float)
    assert np.allclose([back.index_to_world(c) for c in corners], [volume.index_to_world(c) for c in corners],
                       atol=1e-4)
    assert back.meta.frame_of_reference_uid == "1.2.3.4.5"
    assert back.meta.study_uid == reference.StudyInstanceUID


def test_four_d_volume_is_written_with_temporal_positions(tmp_path: Path, cirs_ct: Path) -> None:
    array = np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5)
    volume = Volume.from_parts(array, [1, 1, 2], [0, 0, 0], np.eye(3), VolumeMeta(modality="MR"))
    files = export_dicom_series(no_progress, None, volume, tmp_path / "out", pydicom.dcmread(_files(cirs_ct)[0]), "4d",
                                "1.2.3")
    assert len(files) == 6
    tags = [(int(ds.TemporalPositionIdentifier), float(ds.ImagePositionPatient[2]))
            for ds in (pydicom.dcmread(f) for f in files)]
    assert tags == [(1, 0.0), (1, 2.0), (1, 4.0), (2, 0.0), (2, 2.0), (2, 4.0)]
    assert np.array_equal(pydicom.dcmread(files[4]).pixel_array, array[1, 1])


def test_what_dicom_slices_cannot_hold_is_refused(tmp_path: Path, cirs_ct: Path) -> None:
    reference = read_header(_files(cirs_ct)[0])
    sheared = Volume(np.zeros((3, 4, 4), np.int16), np.array([[1, 0, 0.5, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                                              [0, 0, 0, 1]], dtype=float))
    with pytest.raises(ExportError, match="not perpendicular"):
        export_dicom_series(no_progress, None, sheared, tmp_path / "a", reference, "x", "1.2.3")
    with pytest.raises(ExportError, match="frame of reference"):
        export_dicom_series(no_progress, None, _oblique_float_volume(), tmp_path / "b", reference, "x", "")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "other.dcm").write_bytes(b"x")
    with pytest.raises(ExportError, match="not empty"):
        export_dicom_series(no_progress, None, _oblique_float_volume(), busy, reference, "x", "1.2.3")
    assert [p.name for p in busy.iterdir()] == ["other.dcm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]  # nothing half written


def test_cancel_leaves_no_folder(tmp_path: Path, cirs_ct: Path) -> None:
    token = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if fraction >= 0.5:
            token.set()

    with pytest.raises(Cancelled):
        export_dicom_series(progress, token, _oblique_float_volume(), tmp_path / "out", read_header(_files(cirs_ct)[0]),
                            "x", "1.2.3")
    assert list(tmp_path.iterdir()) == []
