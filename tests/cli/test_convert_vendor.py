"""``convert`` and ``info`` on vendor DICOM: Philips scaling choices, and mosaics that cannot be placed refused.

Values are checked against pydicom's reading of the same files (its modality
LUT and the Philips private Scale Slope), not against our own loader.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.pixels import apply_modality_lut

PHILIPS_FMRI = "philips/In/Magdeburg_2014/fmri"


def workstation(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workstation", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _files(folder: Path) -> list[tuple[str, np.ndarray, pydicom.Dataset]]:
    """Each file's name, display values (pydicom's modality LUT) and dataset."""
    out = []
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        out.append((path.name, apply_modality_lut(ds.pixel_array, ds).astype(np.float64), ds))
    return out


PIXELS = ((5, 7), (32, 32), (40, 20))
"""(row, column) of the pixels compared in every file."""


def _values_at(image: sitk.Image, ds: pydicom.Dataset) -> np.ndarray:
    """(time points, pixels): what the written 4D image holds at the world positions of ``PIXELS`` of ``ds``."""
    row, col = np.asarray(ds.ImageOrientationPatient[:3], float), np.asarray(ds.ImageOrientationPatient[3:], float)
    dr, dc = (float(v) for v in ds.PixelSpacing)
    out = np.empty((image.GetSize()[3], len(PIXELS)))
    for t in range(image.GetSize()[3]):
        volume = image[:, :, :, t]
        for n, (j, i) in enumerate(PIXELS):
            world = np.asarray(ds.ImagePositionPatient, float) + i * dc * row + j * dr * col
            out[t, n] = volume[volume.TransformPhysicalPointToIndex(tuple(float(v) for v in world))]
    return out


@pytest.mark.parametrize("scaling", ["philips-fp", "display"])
def test_philips_scaling_default_and_choice(dcm_qa_vendor: Path, tmp_path: Path, scaling: str) -> None:
    """Philips FP = (stored x RS + RI) / (RS x SS) by default, pydicom's display values on request; info says which."""
    source = dcm_qa_vendor / PHILIPS_FMRI
    options = [] if scaling == "philips-fp" else ["--scaling", "display"]
    info = workstation("info", source, "--json", *options)
    assert info.returncode == 0, info.stderr
    [described] = json.loads(info.stdout)
    assert described["scaling"] == scaling
    done = workstation("convert", source, "-o", tmp_path / "fmri.nii", *options)
    assert done.returncode == 0, done.stderr
    image = sitk.ReadImage(str(tmp_path / "fmri.nii"))
    files = _files(source)
    assert len(files) == 27
    for name, display, ds in files:
        expected = np.array([display[j, i] for j, i in PIXELS])
        if scaling == "philips-fp":
            expected /= float(ds.RescaleSlope) * float(ds[0x2005, 0x100E].value)
        assert expected.any()
        found = _values_at(image, ds)
        # one of the time points holds this file's slice
        assert np.isclose(found, expected, rtol=1e-6).all(axis=1).any(), (name, found, expected)


def test_info_json_says_display_for_data_without_philips_scaling(dcm_qa_vendor: Path) -> None:
    info = workstation("info", dcm_qa_vendor / "stc/In/UIH", "--json")
    assert info.returncode == 0, info.stderr
    [described] = json.loads(info.stdout)
    assert described["scaling"] == "display" and described["size"] == [64, 64, 20, 17]


def _damaged_copy(source: Path, folder: Path, damage: object) -> Path:
    folder.mkdir()
    ds = pydicom.dcmread(source)
    damage(ds)
    path = folder / source.name
    ds.save_as(path)
    return path


def test_a_uih_vframe_without_its_slice_positions_is_refused_in_one_line(dcm_qa_vendor: Path,
                                                                         tmp_path: Path) -> None:
    source = next((dcm_qa_vendor / "stc/In/UIH").rglob("*.dcm"))

    def drop_positions(ds: pydicom.Dataset) -> None:
        del ds[0x0065, 0x1051]

    path = _damaged_copy(source, tmp_path / "in", drop_positions)
    done = workstation("convert", path.parent, "-o", tmp_path / "out.nii")
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "UIH VFRAME" in line and str(path) in line and "Traceback" not in line
    assert not (tmp_path / "out.nii").exists()


def test_a_siemens_mosaic_without_position_is_refused_in_one_line(dcm_qa_ts: Path, tmp_path: Path) -> None:
    def drop_position(ds: pydicom.Dataset) -> None:
        del ds.ImagePositionPatient

    path = _damaged_copy(dcm_qa_ts / "In" / "1.dcm", tmp_path / "in", drop_position)
    done = workstation("convert", path.parent, "-o", tmp_path / "out.nii")
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "Siemens mosaic without ImagePositionPatient" in line and str(path) in line
    assert not (tmp_path / "out.nii").exists()
