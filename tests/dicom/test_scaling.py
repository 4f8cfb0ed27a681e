"""Philips scaled data in the viewer: display values in the voxels, the floating-point value beside them in the probe.

Checked against pydicom's modality LUT and the Philips private Scale Slope of
the same files (FP = display / (RS x SS), Chenevert et al. 2014).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

from workstation.dicom.load import load_volumes
from workstation.jobs import no_progress


def test_viewer_volume_holds_display_values_and_the_probe_shows_philips_fp(dcm_qa_vendor: Path) -> None:
    folder = dcm_qa_vendor / "philips/In/Magdeburg_2014/fmri"
    [volume] = load_volumes(no_progress, None, folder).volumes  # the viewer's default: display values
    assert volume.meta.extra["scaling"] == "display"
    path = sorted(folder.glob("*.dcm"))[0]
    ds = pydicom.dcmread(path)
    display = apply_modality_lut(ds.pixel_array, ds)
    row, col = np.asarray(ds.ImageOrientationPatient[:3], float), np.asarray(ds.ImageOrientationPatient[3:], float)
    dr, dc = (float(v) for v in ds.PixelSpacing)
    j, i = np.unravel_index(int(np.argmax(display)), display.shape)
    world = np.asarray(ds.ImagePositionPatient, float) + i * dc * row + j * dr * col
    values = [volume.value_at(world, t) for t in range(volume.timepoints)]
    assert any(np.isclose(v, display[j, i], rtol=1e-6) for v in values), (values, display[j, i])
    fp = float(display[j, i]) / (float(ds.RescaleSlope) * float(ds[0x2005, 0x100E].value))
    text = volume.meta.value_text(float(display[j, i]))
    shown = float(text.split("Philips FP ", 1)[1].rstrip(")"))
    assert text.startswith(f"{float(display[j, i]):g} ") and abs(shown - fp) <= 1e-5 * fp, (text, fp)


def test_the_probe_shows_no_fp_value_for_other_data(dcm_qa_vendor: Path) -> None:
    [volume] = load_volumes(no_progress, None, dcm_qa_vendor / "stc/In/UIH").volumes
    assert "Philips" not in volume.meta.value_text(100.0)
    fmri = dcm_qa_vendor / "philips/In/Magdeburg_2014/fmri"
    [fp] = load_volumes(no_progress, None, fmri, scaling="philips-fp").volumes
    assert fp.meta.extra["scaling"] == "philips-fp" and "Philips" not in fp.meta.value_text(100.0)
