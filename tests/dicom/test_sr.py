"""The TID 1500 measurement report: written from measurements of a real CT, read back with highdicom and pydicom."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import Comprehensive3DSRStorage

from workstation.dicom.sr import write_report
from workstation.errors import Cancelled, ExportError
from workstation.geometry import standard_plane
from workstation.jobs import CancelToken, no_progress
from workstation.measurement_export import record
from workstation.measurements import Measurement
from workstation.volume import Volume, VolumeMeta

UCUM = {"length": "mm", "angle": "deg", "area": "mm2", "mean": "[hnsf'U]", "sd": "[hnsf'U]",
        "min": "[hnsf'U]", "max": "[hnsf'U]"}
NAMES = {"length": "Length", "angle": "Angle", "area": "Area", "mean": "Mean", "sd": "Standard Deviation",
         "min": "Minimum", "max": "Maximum"}


@pytest.fixture(scope="module")
def ct(cirs_ct: Path) -> tuple[Volume, list[Path], dict[str, float]]:
    """The CIRS CT as a Volume (read by SimpleITK), its files, and each image's z position by SOP instance UID."""
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(cirs_ct))
    reader.SetFileNames(names)
    image = reader.Execute()
    headers = [pydicom.dcmread(n, stop_before_pixels=True) for n in names]
    meta = VolumeMeta(modality="CT", units="HU", series_uid=str(headers[0].SeriesInstanceUID),
                      frame_of_reference_uid=str(headers[0].FrameOfReferenceUID))
    z_by_uid = {str(h.SOPInstanceUID): float(h.ImagePositionPatient[2]) for h in headers}
    return Volume.from_sitk(image, meta), [Path(n) for n in names], z_by_uid


def _measurements(volume: Volume) -> list[Measurement]:
    """A ruler, angle, ellipse and rectangle on one axial slice, and a ruler on a coronal reformat."""
    k = volume.array.shape[0] // 2
    center = volume.index_to_world([256.0, 256.0, float(k)])
    axial = standard_plane("axial", center)
    coronal = standard_plane("coronal", center)
    c = np.asarray(center)
    on_axial = [
        Measurement("ruler", [c, c + [30.0, 40.0, 0.0]], axial, volume.meta.series_uid, label="ruler one"),
        Measurement("angle", [c + [20, 0, 0], c, c + [0, 20, 0]], axial, volume.meta.series_uid),
        Measurement("ellipse", [c - [15, 10, 0], c + [15, 10, 0]], axial, volume.meta.series_uid, label="ellipse"),
        Measurement("rectangle", [c - [10, 10, 0], c + [12, 8, 0]], axial, volume.meta.series_uid),
    ]
    spanning = Measurement("ruler", [c + [0, 0, -20.0], c + [0, 0, 25.0]], coronal, volume.meta.series_uid)
    return [*on_axial, spanning]


def test_report_reads_back_with_the_same_values_units_regions_and_images(ct, tmp_path: Path) -> None:
    volume, files, z_by_uid = ct
    measurements = _measurements(volume)
    records = [record(m, volume) for m in measurements]
    out = write_report(no_progress, None, records, files, tmp_path / "report.dcm")

    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == Comprehensive3DSRStorage
    source = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert (ds.StudyInstanceUID, ds.PatientID) == (source.StudyInstanceUID, source.PatientID)
    evidence = {str(i.ReferencedSOPInstanceUID) for s in ds.CurrentRequestedProcedureEvidenceSequence
                for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence}

    sr = hd.sr.Comprehensive3DSR.from_dataset(ds)
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == len(records)
    for group, rec, m in zip(groups, records, measurements, strict=True):
        got = {item.name.meaning: (item.value, item.unit.value) for item in group.get_measurements()}
        want = {NAMES[name]: (pytest.approx(value), UCUM[name]) for name, (value, _unit) in rec["values"].items()}
        assert got == want
        region = group.roi
        assert region.ReferencedFrameOfReferenceUID == volume.meta.frame_of_reference_uid
        data = np.asarray(region.GraphicData, dtype=float).reshape(-1, 3)
        if m.kind in ("ruler", "angle"):
            assert region.GraphicType == "POLYLINE"
            np.testing.assert_allclose(data, m.points, atol=1e-3)  # FL storage
        elif m.kind == "rectangle":
            assert region.GraphicType == "POLYGON" and len(data) == 5
            np.testing.assert_allclose(data[0], data[-1])
            np.testing.assert_allclose(data[2], m.points[1], atol=1e-3)
        else:
            assert region.GraphicType == "ELLIPSE"
            np.testing.assert_allclose(np.linalg.norm(data[1] - data[0]), 30.0, atol=1e-3)  # major axis first
            np.testing.assert_allclose(np.linalg.norm(data[3] - data[2]), 20.0, atol=1e-3)
        referenced = {r.referenced_sop_instance_uid for item in group.get_measurements()
                      for r in item.referenced_images}
        assert referenced <= evidence
        ref_z = sorted(z_by_uid[uid] for uid in referenced)
        end_z = sorted({float(p[2]) for p in m.points})
        assert len(ref_z) == len(end_z)
        spacing = 0.625
        for rz, pz in zip(ref_z, end_z, strict=True):
            assert abs(rz - pz) <= spacing / 2 + 1e-6  # the acquired image through each end


def test_unmeasured_report_is_refused_and_cancel_leaves_no_file(ct, tmp_path: Path) -> None:
    volume, files, _ = ct
    with pytest.raises(ExportError, match="no measurements"):
        write_report(no_progress, None, [], files, tmp_path / "none.dcm")
    cancel = CancelToken()
    cancel.set()
    with pytest.raises(Cancelled):
        write_report(no_progress, cancel, [record(_measurements(volume)[0], volume)], files, tmp_path / "c.dcm")
    assert list(tmp_path.iterdir()) == []


def test_mr_intensities_have_no_units(cirs_mr: Path, tmp_path: Path) -> None:
    files = sorted(cirs_mr.iterdir())[:40]
    header = pydicom.dcmread(files[20], stop_before_pixels=True)
    center = np.asarray(header.ImagePositionPatient, dtype=float)
    plane = standard_plane("axial", center)
    m = Measurement("rectangle", [center, center + [5.0, 5.0, 0.0]], plane, str(header.SeriesInstanceUID))
    rec = {**m.to_dict(), "values": {"mean": [101.5, ""], "area": [25.0, "mm2"]}}
    out = write_report(no_progress, None, [rec], files, tmp_path / "mr.dcm")
    sr = hd.sr.srread(out)
    (group,) = sr.content.get_planar_roi_measurement_groups()
    got = {item.name.meaning: (item.value, item.unit.value) for item in group.get_measurements()}
    assert got == {"Mean": (101.5, "1"), "Area": (25.0, "mm2")}
