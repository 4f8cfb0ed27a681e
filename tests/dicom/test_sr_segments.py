"""Segment statistics in the TID 1500 report beside measurements, each group referencing its segment of our SEG;
values checked against SimpleITK's label statistics, the document against dciodvfy."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from segmentation.statistics import segment_statistics
from tests.dicom.dciodvfy import dciodvfy_errors
from workstation.dicom.load import load_volumes
from workstation.dicom.seg import seg_numbers, write_seg
from workstation.dicom.sr import write_report
from workstation.geometry import standard_plane
from workstation.jobs import no_progress
from workstation.labels import LabelMap, default_segment
from workstation.measurement_export import record
from workstation.measurements import Measurement

pytestmark = pytest.mark.filterwarnings("ignore:.*intended person name")


def _walk(items, found: list[pydicom.Dataset]) -> list[pydicom.Dataset]:
    for item in items:
        found.append(item)
        _walk(item.get("ContentSequence", []), found)
    return found


def test_segment_statistics_go_into_the_report_referencing_their_segments(seg_samples: Path, tmp_path: Path):
    [ct] = load_volumes(no_progress, None, seg_samples / "dcmqi" / "24x38x3" / "image").volumes
    labels = LabelMap.empty_like(ct, [default_segment(3, "lesion"), default_segment(7, "cyst")])
    labels.array[0:3, 5:20, 4:12] = 3
    labels.array[1, 25:35, 10:20] = 7
    seg_path = write_seg(no_progress, None, labels, ct, tmp_path / "seg.dcm")
    stats = segment_statistics(no_progress, None, labels, ct)
    numbers = seg_numbers(labels)
    segment_records = [{**asdict(s), "segment_number": numbers[s.number]} for s in stats]
    centre = np.asarray(ct.center())
    ruler = Measurement("ruler", [centre, centre + [5.0, 3.0, 0.0]], standard_plane("axial", centre),
                        ct.meta.series_uid, label="ruler")
    out = write_report(no_progress, None, [record(ruler, ct)], ct.meta.extra["paths"], tmp_path / "sr.dcm",
                       segment_records, seg_path)
    assert dciodvfy_errors(out) == []

    report = pydicom.dcmread(out)
    seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    evidence = {str(i.ReferencedSOPInstanceUID) for s in report.CurrentRequestedProcedureEvidenceSequence
                for r in s.ReferencedSeriesSequence for i in r.ReferencedSOPSequence}
    assert str(seg.SOPInstanceUID) in evidence
    groups = [i for i in _walk(report.ContentSequence, []) if i.ValueType == "CONTAINER"
              and i.ConceptNameCodeSequence[0].CodeMeaning == "Measurement Group"]
    assert len(groups) == 3  # the ruler and the two segments

    shape, intensity = sitk.LabelShapeStatisticsImageFilter(), sitk.LabelIntensityStatisticsImageFilter()
    shape.Execute(labels.volume.to_sitk())
    intensity.Execute(labels.volume.to_sitk(), ct.to_sitk())
    for our_number, seg_number in ((3, 1), (7, 2)):
        [group] = [g for g in groups if any(r.get("ReferencedSegmentNumber") == seg_number
                                            for i in _walk(g.ContentSequence, [])
                                            for r in i.get("ReferencedSOPSequence", []))]
        items = _walk(group.ContentSequence, [])
        [referenced] = [r for i in items for r in i.get("ReferencedSOPSequence", []) if "ReferencedSegmentNumber" in r]
        assert referenced.ReferencedSOPInstanceUID == seg.SOPInstanceUID
        values = {i.ConceptNameCodeSequence[0].CodeMeaning: (float(i.MeasuredValueSequence[0].NumericValue),
                                                              i.MeasuredValueSequence[0]
                                                              .MeasurementUnitsCodeSequence[0].CodeValue)
                  for i in items if i.ValueType == "NUM"}
        assert values["Volume"][0] == pytest.approx(shape.GetPhysicalSize(our_number) / 1000, rel=1e-6)
        assert values["Volume"][1] == "mL"
        assert values["Mean"][0] == pytest.approx(intensity.GetMean(our_number), rel=1e-6)
        assert values["Mean"][1] == {"HU": "[hnsf'U]", "": "1"}[ct.meta.units]
        assert values["Standard Deviation"][0] == pytest.approx(intensity.GetStandardDeviation(our_number), rel=1e-6)
        assert values["Minimum"][0] == intensity.GetMinimum(our_number)
