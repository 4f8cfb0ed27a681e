"""Measurements as a DICOM Structured Report (TID 1500 Measurement Report), written with highdicom.

Why: a PACS or a medical record takes measurements as an SR, not as a CSV.
Each measurement becomes one planar ROI group (TID 1410) whose region is
given in 3D patient coordinates (SCOORD3D, LPS mm, in the series' frame of
reference), because a ruler drawn on a coronal reformat of an axial series
lies on no single acquired image. The group's measurements also name the
acquired images nearest to the measurement's points, so a reader can jump to
them. Values carry UCUM units: mm, deg, mm2, and [hnsf'U] for CT intensities.

The input is plain measurement records (``Measurement.to_dict()`` plus the
values with their units), the same the CSV export and the library use.

highdicom and pydicom's SR code dictionaries are imported when a report is
written, not with this module: the viewer imports it at start (File > Export),
and they took about a sixth of the program's start-up.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from workstation import __version__
from workstation.atomic import atomic_output
from workstation.errors import DicomError, ExportError
from workstation.jobs import CancelFlag, Progress, check_cancel
from workstation.measurements import Measurement

if TYPE_CHECKING:
    import highdicom as hd
    from pydicom.sr.coding import Code

DEVICE_UID = "1.2.826.0.1.3680043.8.498.4077215930.1"
"""Fixed UID of this program as the observing device of every report it writes."""

SR_SERIES_NUMBER = 9901

NAME_CODES = {
    "length": "SCT.Length",
    "angle": "SCT.Angle",
    "area": "SCT.Area",
    "mean": "SCT.Mean",
    "sd": "SCT.StandardDeviation",
    "min": "SCT.Minimum",
    "max": "SCT.Maximum",
}
"""Our value keys to the concept names TID 1500 readers know (scheme.keyword of pydicom's ``codes``)."""

UNIT_CODES = {
    "mm": "UCUM.Millimeter",
    "deg": "UCUM.Degree",
    "mm2": "UCUM.SquareMillimeter",
    "HU": "UCUM.HounsfieldUnit",
    "": "UCUM.NoUnits",
    "1": "UCUM.NoUnits",
}

SEGMENT_VALUES = (("volume_ml", "SCT.Volume"), ("mean", "SCT.Mean"), ("sd", "SCT.StandardDeviation"),
                  ("minimum", "SCT.Minimum"), ("maximum", "SCT.Maximum"), ("median", "SCT.Median"))
"""Segment statistics (``segmentation.statistics.SegmentStatistics`` fields) and the concepts TID 1411 names them."""

PROCEDURES = {"CT": "LN.CTUnspecifiedBodyRegion", "MR": "LN.MRIUnspecifiedBodyRegion",
              "PT": "LN.PETUnspecifiedBodyRegion"}


def code(name: str) -> Code:
    """pydicom's code for ``"SCHEME.Keyword"``."""
    from pydicom.sr.codedict import codes

    scheme, keyword = name.split(".")
    return getattr(getattr(codes, scheme), keyword)


def unit_code(unit: str) -> hd.sr.CodedConcept | Code:
    """UCUM code of a unit; an unknown modality unit becomes a UCUM annotation ``{unit}``."""
    import highdicom as hd

    if unit in UNIT_CODES:
        return code(UNIT_CODES[unit])
    return hd.sr.CodedConcept(value="{" + unit + "}", scheme_designator="UCUM", meaning=unit)


@dataclass
class ReportItem:
    """One measurement as the report needs it: a region in LPS mm and named values with units."""

    label: str
    uid: str
    graphic_type: str  # highdicom GraphicTypeValues3D name: POLYLINE, POLYGON, ELLIPSE
    points: np.ndarray  # (n, 3) LPS mm
    values: list[tuple[str, float, str]] = field(default_factory=list)  # (name key, value, unit)


@dataclass
class SegmentItem:
    """One segment's statistics as the report needs them: the segment of a SEG they describe, and the values."""

    label: str
    uid: str
    segment_number: int  # in the SEG file
    values: list[tuple[str, float, str]] = field(default_factory=list)  # (name key, value, unit)


def segment_items(records: Sequence[Mapping[str, Any]]) -> list[SegmentItem]:
    """Segment statistics records (``SegmentStatistics`` as a dict, plus ``segment_number`` in the SEG) as items."""
    items = []
    for data in records:
        values = [(key, float(data[key]), "mL" if key == "volume_ml" else str(data.get("units", "")))
                  for key, _ in SEGMENT_VALUES if data.get(key) is not None and np.isfinite(data[key])]
        uid = generate_uid(prefix=None, entropy_srcs=[str(data["label"]), str(data["segment_number"])])
        items.append(SegmentItem(str(data["label"]), uid, int(data["segment_number"]), values))
    return items


def _referenced_segment(segmentation: hd.seg.Segmentation, number: int) -> hd.sr.ReferencedSegment:
    """The segment as TID 1411 references it: the whole segment of the SEG, on the series it was drawn on.

    Not ``ReferencedSegment.from_segmentation``: highdicom 0.28 looks for the
    segment's identification in every frame, and a SEG of one segment keeps
    it once, in the shared functional groups (so does highdicom's own writer).
    """
    import highdicom as hd

    series = segmentation.ReferencedSeriesSequence[0].SeriesInstanceUID
    return hd.sr.ReferencedSegment(segmentation.SOPClassUID, segmentation.SOPInstanceUID, number,
                                   source_series=hd.sr.SourceSeriesForSegmentation(series))


def _segment_group(item: SegmentItem, segmentation: hd.seg.Segmentation) -> \
        hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    """TID 1411: a segment's values, the region given by the segment of the SEG (by reference)."""
    import highdicom as hd

    names = dict(SEGMENT_VALUES)
    millilitre = hd.sr.CodedConcept(value="mL", scheme_designator="UCUM", meaning="milliliter")
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=item.uid, identifier=item.label),
        referenced_segment=_referenced_segment(segmentation, item.segment_number),
        finding_type=code("SCT.Finding"),
        measurements=[hd.sr.Measurement(name=code(names[key]), value=value,
                                        unit=millilitre if unit == "mL" else unit_code(unit))
                      for key, value, unit in item.values])


@dataclass
class SourceImage:
    """An acquired image a measurement can point at: its plane and its identity."""

    sop_class_uid: str
    sop_instance_uid: str
    position: np.ndarray
    normal: np.ndarray
    dataset: pydicom.Dataset


def _roi_region(m: Measurement) -> tuple[str, np.ndarray]:
    """The ROI outline as SCOORD3D: an ellipse by its four axis ends (major first), a rectangle closed."""
    right, down = np.asarray(m.plane.right), np.asarray(m.plane.down)
    (u0, v0), (u1, v1) = m.plane_points()
    if m.kind == "rectangle":
        corners = [m.points[0], m.points[0] + (u1 - u0) * right, m.points[1], m.points[0] + (v1 - v0) * down]
        return "POLYGON", np.array([*corners, corners[0]])
    center = (m.points[0] + m.points[1]) / 2
    axes = sorted([abs(u1 - u0) / 2 * right, abs(v1 - v0) / 2 * down], key=lambda a: -float(np.linalg.norm(a)))
    return "ELLIPSE", np.array([center - axes[0], center + axes[0], center - axes[1], center + axes[1]])


def report_items(records: Sequence[Mapping[str, Any]]) -> list[ReportItem]:
    """Turn measurement records into report items.

    A record is ``Measurement.to_dict()`` plus ``values``: name -> (value,
    unit) as ``workstation.measurements.values`` gives them (see
    ``workstation.measurement_export.record``).
    """
    items = []
    for n, data in enumerate(records, start=1):
        m = Measurement.from_dict(dict(data))
        values = [(name, float(value), str(unit)) for name, (value, unit) in data["values"].items()
                  if name in NAME_CODES and np.isfinite(value)]
        if m.kind in ("ruler", "angle"):
            graphic, points = "POLYLINE", m.points
        else:
            graphic, points = _roi_region(m)
        tracking_uid = generate_uid(prefix=None, entropy_srcs=[m.uid])  # a DICOM UID, stable per measurement
        items.append(ReportItem(m.label or f"{m.kind} {n}", tracking_uid, graphic, points, values))
    return items


def read_sources(progress: Progress, cancel: CancelFlag | None,
                 paths: Sequence[str | PathLike[str]]) -> list[SourceImage]:
    """Headers of the series' images (read-only, no pixels) with their planes, for picking references."""
    sources = []
    for n, path in enumerate(paths):
        check_cancel(cancel)
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError, ValueError) as exc:
            raise DicomError(f"cannot read a source image of the report ({exc})", path) from exc
        orientation = np.asarray(ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), dtype=float)
        position = np.asarray(ds.get("ImagePositionPatient", [0, 0, 0]), dtype=float)
        sources.append(SourceImage(str(ds.SOPClassUID), str(ds.SOPInstanceUID), position,
                                   np.cross(orientation[:3], orientation[3:]), ds))
        progress(0.8 * (n + 1) / len(paths), "reading the source images")
    if not sources:
        raise ExportError("a measurement report needs the images it refers to")
    return sources


def nearest_sources(points: np.ndarray, sources: Sequence[SourceImage]) -> list[SourceImage]:
    """For each point, the acquired image whose plane lies nearest; each image once, in point order."""
    chosen: list[SourceImage] = []
    for point in points:
        distances = [abs(float(np.dot(s.normal, point - s.position))) for s in sources]
        best = sources[int(np.argmin(distances))]
        if best not in chosen:
            chosen.append(best)
    return chosen


def build_report(items: Sequence[ReportItem], sources: Sequence[SourceImage], frame_of_reference_uid: str,
                 modality: str, segments: Sequence[SegmentItem] = (),
                 segmentation: hd.seg.Segmentation | None = None) -> hd.sr.Comprehensive3DSR:
    """The SR document: one TID 1410 group per item and one TID 1411 group per segment; evidence = what they cite."""
    import highdicom as hd

    groups: list[Any] = []
    evidence: dict[str, pydicom.Dataset] = {}
    if segments and segmentation is not None:  # the segment's reference names the SEG and the images it was drawn on
        evidence[str(segmentation.SOPInstanceUID)] = segmentation
        evidence.update((source.sop_instance_uid, source.dataset) for source in sources)
        groups += [_segment_group(item, segmentation) for item in segments]
    for item in items:
        referenced = nearest_sources(item.points, sources)
        for source in referenced:
            evidence[source.sop_instance_uid] = source.dataset
        refs = [hd.sr.SourceImageForMeasurement(s.sop_class_uid, s.sop_instance_uid) for s in referenced]
        measurements = [hd.sr.Measurement(name=code(NAME_CODES[key]), value=float(value), unit=unit_code(unit),
                                          referenced_images=refs)
                        for key, value, unit in item.values]
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=item.uid, identifier=item.label),
            referenced_region=hd.sr.ImageRegion3D(graphic_type=item.graphic_type, graphic_data=item.points,
                                                  frame_of_reference_uid=frame_of_reference_uid),
            finding_type=code("SCT.Finding"),
            measurements=measurements,
        ))
    device = hd.sr.ObserverContext(
        observer_type=code("DCM.Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=DEVICE_UID, name="workstation", model_name=f"workstation {__version__}"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=code(PROCEDURES.get(modality, "SCT.ImagingProcedure")),
        imaging_measurements=groups,
    )
    with warnings.catch_warnings():  # highdicom's name-format warning quotes the patient's name: keep it out of logs
        warnings.filterwarnings("ignore", message=".*intended person name.*")
        return hd.sr.Comprehensive3DSR(
            evidence=list(evidence.values()), content=report[0], series_instance_uid=generate_uid(),
            series_number=SR_SERIES_NUMBER, sop_instance_uid=generate_uid(), instance_number=1,
            manufacturer="workstation", is_complete=True,
        )


def write_report(progress: Progress, cancel: CancelFlag | None, records: Sequence[Mapping[str, Any]],
                 source_files: Sequence[str | PathLike[str]], output: str | PathLike[str],
                 segment_records: Sequence[Mapping[str, Any]] = (),
                 segmentation_file: str | PathLike[str] | None = None) -> Path:
    """Job: write the measurements of one series as a TID 1500 SR to ``output`` (atomically).

    ``segment_records`` (segment statistics with ``segment_number`` in the
    SEG ``segmentation_file`` written for the same series) go in beside the
    measurements, each referencing its segment.
    """
    out = Path(output)
    if not records and not segment_records:
        raise ExportError("there are no measurements to report", out)
    segmentation = None
    if segment_records:
        if segmentation_file is None:
            raise ExportError("segment statistics need the SEG file holding their segments", out)
        import highdicom as hd

        try:
            segmentation = hd.seg.segread(segmentation_file)
        except (OSError, ValueError, AttributeError) as exc:
            raise DicomError(f"cannot read the segmentation the report refers to ({exc})", segmentation_file) \
                from exc
    sources = read_sources(progress, cancel, source_files)
    first = sources[0].dataset
    items = report_items(records)
    check_cancel(cancel)
    try:
        document = build_report(items, sources, str(first.get("FrameOfReferenceUID", "")),
                                str(first.get("Modality", "")), segment_items(segment_records), segmentation)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ExportError(f"the measurement report is not valid DICOM ({exc})", out) from exc
    progress(0.9, "writing the report")
    with atomic_output(out, "measurement report") as tmp:
        document.save_as(tmp, enforce_file_format=True)
    progress(1.0, "report written")
    return out
