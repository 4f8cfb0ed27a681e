"""The header facts of one DICOM file that the library, the assembler and the decoder need.

Reading a header is the hot path of a scan (hundreds of files per second), so
this keeps only what later steps use, as plain Python values, picklable for
worker processes and storable in the library database. Identity fields are
kept for the library and display only; never log them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from workstation.errors import DicomError


@dataclass
class InstanceHeader:
    """One file's header (one image, or one multi-frame object)."""

    path: str
    file_size: int = 0
    mtime_ns: int = 0
    transfer_syntax_uid: str = ""
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    # identity (library and display only)
    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_uid: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    series_uid: str = ""
    series_number: int | None = None
    series_description: str = ""
    modality: str = ""
    frame_of_reference_uid: str = ""
    # image
    instance_number: int | None = None
    acquisition_number: int | None = None
    image_type: tuple[str, ...] = ()
    rows: int = 0
    columns: int = 0
    number_of_frames: int = 1
    samples_per_pixel: int = 1
    photometric: str = ""
    bits_allocated: int = 0
    bits_stored: int = 0
    pixel_representation: int = 0
    planar_configuration: int = 0
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    rescale_type: str = ""
    window_centers: tuple[float, ...] = ()
    window_widths: tuple[float, ...] = ()
    window_explanations: tuple[str, ...] = ()
    # geometry
    image_position: tuple[float, float, float] | None = None
    image_orientation: tuple[float, float, float, float, float, float] | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    gantry_tilt: float | None = None
    patient_position: str = ""
    # what splits a series into volumes
    echo_number: int | None = None
    echo_time: float | None = None
    temporal_position: int | None = None
    trigger_time: float | None = None
    acquisition_time: str = ""
    # where native (uncompressed) pixel data sits in the file, for direct reads; None when encapsulated/unknown
    pixel_offset: int | None = None
    pixel_length: int | None = None
    has_pixel_data: bool = True
    is_enhanced: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def is_localizer(self) -> bool:
        return "LOCALIZER" in (t.upper() for t in self.image_type)


def _num(value: object, kind: type = float) -> object:
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _floats(value: object) -> tuple[float, ...]:
    if value is None or value == "":
        return ()
    items = value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]
    out = []
    for item in items:
        number = _num(item)
        if number is not None:
            out.append(number)
    return tuple(out)


def header_from_dataset(ds: pydicom.Dataset, path: str, file_size: int = 0, mtime_ns: int = 0) -> InstanceHeader:
    """Pick the fields of ``InstanceHeader`` out of a parsed dataset (pixels not needed)."""
    get = ds.get
    meta = getattr(ds, "file_meta", None)
    position = _floats(get("ImagePositionPatient"))
    orientation = _floats(get("ImageOrientationPatient"))
    spacing = _floats(get("PixelSpacing"))
    return InstanceHeader(
        path=path, file_size=file_size, mtime_ns=mtime_ns,
        transfer_syntax_uid=str(meta.get("TransferSyntaxUID", "")) if meta is not None else "",
        sop_class_uid=str(get("SOPClassUID", "")), sop_instance_uid=str(get("SOPInstanceUID", "")),
        patient_name=str(get("PatientName", "")), patient_id=str(get("PatientID", "")),
        patient_birth_date=str(get("PatientBirthDate", "")), patient_sex=str(get("PatientSex", "")),
        study_uid=str(get("StudyInstanceUID", "")), study_date=str(get("StudyDate", "")),
        study_time=str(get("StudyTime", "")), study_description=str(get("StudyDescription", "")),
        accession_number=str(get("AccessionNumber", "")),
        series_uid=str(get("SeriesInstanceUID", "")), series_number=_num(get("SeriesNumber"), int),
        series_description=str(get("SeriesDescription", "")), modality=str(get("Modality", "")),
        frame_of_reference_uid=str(get("FrameOfReferenceUID", "")),
        instance_number=_num(get("InstanceNumber"), int), acquisition_number=_num(get("AcquisitionNumber"), int),
        image_type=tuple(str(t) for t in (get("ImageType") or ())),
        rows=int(get("Rows", 0) or 0), columns=int(get("Columns", 0) or 0),
        number_of_frames=int(_num(get("NumberOfFrames"), int) or 1),
        samples_per_pixel=int(get("SamplesPerPixel", 1) or 1), photometric=str(get("PhotometricInterpretation", "")),
        bits_allocated=int(get("BitsAllocated", 0) or 0), bits_stored=int(get("BitsStored", 0) or 0),
        pixel_representation=int(get("PixelRepresentation", 0) or 0),
        planar_configuration=int(get("PlanarConfiguration", 0) or 0),
        rescale_slope=float(_num(get("RescaleSlope")) or 1.0) if _num(get("RescaleSlope")) != 0 else 1.0,
        rescale_intercept=float(_num(get("RescaleIntercept")) or 0.0), rescale_type=str(get("RescaleType", "")),
        window_centers=_floats(get("WindowCenter")), window_widths=_floats(get("WindowWidth")),
        window_explanations=tuple(str(e) for e in (get("WindowCenterWidthExplanation") or ())) if not isinstance(
            get("WindowCenterWidthExplanation"), str) else (str(get("WindowCenterWidthExplanation")),),
        image_position=position if len(position) == 3 else None,
        image_orientation=orientation if len(orientation) == 6 else None,
        pixel_spacing=spacing if len(spacing) == 2 else None,
        slice_thickness=_num(get("SliceThickness")), spacing_between_slices=_num(get("SpacingBetweenSlices")),
        gantry_tilt=_num(get("GantryDetectorTilt")), patient_position=str(get("PatientPosition", "")),
        echo_number=_num(get("EchoNumbers"), int) if not isinstance(get("EchoNumbers"), pydicom.multival.MultiValue)
        else _num(get("EchoNumbers")[0], int),
        echo_time=_num(get("EchoTime")), temporal_position=_num(get("TemporalPositionIdentifier"), int),
        trigger_time=_num(get("TriggerTime")), acquisition_time=str(get("AcquisitionTime", "")),
        has_pixel_data="PixelData" in ds or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds,
        is_enhanced="PerFrameFunctionalGroupsSequence" in ds,
    )


def read_header(path: str | PathLike[str]) -> InstanceHeader:
    """Read one file's header without its pixels; ``DicomError`` names the file and the reason.

    This first version parses with pydicom; the scan module may replace the
    parser with a faster one, keeping this signature and result.
    """
    p = Path(path)
    try:
        stat = p.stat()
        with open(p, "rb") as f:
            ds = pydicom.dcmread(f, stop_before_pixels=False, defer_size=256, force=False)
            return header_from_dataset(ds, str(p), stat.st_size, stat.st_mtime_ns)
    except InvalidDicomError as exc:
        raise DicomError(f"not a DICOM file ({exc})", p) from exc
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError) as exc:
        raise DicomError(f"unreadable DICOM header ({type(exc).__name__}: {exc})", p) from exc
