"""The header facts of one DICOM file that the library, the assembler and the decoder need.

Reading a header is the hot path of a scan (hundreds of files per second), so
this keeps only what later steps use, as plain Python values, picklable for
worker processes and storable in the library database. Identity fields are
kept for the library and display only; never log them.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zlib
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass, field, fields
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from workstation.dicom import tagscan
from workstation.errors import DicomError

if TYPE_CHECKING:
    from pydicom import Dataset


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
    manufacturer: str = ""
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
    philips_scale_slope: float | None = None  # private (2005,100E): Philips floating-point values, see decode
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
    repetition_time: float | None = None  # ms
    diffusion_b_value: float | None = None  # s/mm2
    diffusion_gradient: tuple[float, float, float] | None = None  # unit vector in LPS, as (0018,9089) says
    # where native (uncompressed) pixel data sits in the file, for direct reads; None when encapsulated/unknown
    pixel_offset: int | None = None
    pixel_length: int | None = None
    has_pixel_data: bool = True
    is_enhanced: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def is_localizer(self) -> bool:
        return "LOCALIZER" in (t.upper() for t in self.image_type)


_FIELDS = tuple(f.name for f in fields(InstanceHeader))
_TUPLE_FIELDS = frozenset(f.name for f in fields(InstanceHeader) if "tuple[" in str(f.type))


def header_to_json(header: InstanceHeader) -> str:
    """The header as compact JSON, for the library database (plain values only)."""
    return json.dumps({name: getattr(header, name) for name in _FIELDS}, separators=(",", ":"))


def header_from_json(text: str) -> InstanceHeader:
    """Inverse of ``header_to_json``; fields unknown to this version are ignored, missing ones take defaults."""
    values = json.loads(text)
    for name in _TUPLE_FIELDS:
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    return InstanceHeader(**{name: value for name, value in values.items() if name in _FIELDS})


def _num(value: object, kind: type = float) -> object:
    if value is None or value == "":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _is_multi(value: object) -> bool:
    """A list of values (pydicom's MultiValue or a plain list), not one value."""
    return isinstance(value, (tuple, MutableSequence))


def _floats(value: object) -> tuple[float, ...]:
    if value is None or value == "":
        return ()
    out = []
    for item in (value if _is_multi(value) else [value]):
        number = _num(item)
        if number is not None:
            out.append(number)
    return tuple(out)


def _strings(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    return tuple(str(item) for item in value) if _is_multi(value) else (str(value),)


def _build(get: Callable[..., object], path: str, file_size: int, mtime_ns: int, transfer_syntax_uid: str,
           has_pixel_data: bool, is_enhanced: bool, pixel_offset: int | None,
           pixel_length: int | None) -> InstanceHeader:
    """Turn values in pydicom's shapes (by keyword) into a header; shared by the fast and the pydicom path."""
    position = _floats(get("ImagePositionPatient"))
    orientation = _floats(get("ImageOrientationPatient"))
    spacing = _floats(get("PixelSpacing"))
    slope = _num(get("RescaleSlope"))
    echo = get("EchoNumbers")
    gradient = _floats(get("DiffusionGradientOrientation"))
    manufacturer = str(get("Manufacturer", ""))
    return InstanceHeader(
        path=path, file_size=file_size, mtime_ns=mtime_ns, transfer_syntax_uid=transfer_syntax_uid,
        sop_class_uid=str(get("SOPClassUID", "")), sop_instance_uid=str(get("SOPInstanceUID", "")),
        patient_name=str(get("PatientName", "")), patient_id=str(get("PatientID", "")),
        patient_birth_date=str(get("PatientBirthDate", "")), patient_sex=str(get("PatientSex", "")),
        study_uid=str(get("StudyInstanceUID", "")), study_date=str(get("StudyDate", "")),
        study_time=str(get("StudyTime", "")), study_description=str(get("StudyDescription", "")),
        accession_number=str(get("AccessionNumber", "")),
        series_uid=str(get("SeriesInstanceUID", "")), series_number=_num(get("SeriesNumber"), int),
        series_description=str(get("SeriesDescription", "")), modality=str(get("Modality", "")),
        manufacturer=manufacturer,
        frame_of_reference_uid=str(get("FrameOfReferenceUID", "")),
        instance_number=_num(get("InstanceNumber"), int), acquisition_number=_num(get("AcquisitionNumber"), int),
        image_type=_strings(get("ImageType")),
        rows=int(get("Rows", 0) or 0), columns=int(get("Columns", 0) or 0),
        number_of_frames=int(_num(get("NumberOfFrames"), int) or 1),
        samples_per_pixel=int(get("SamplesPerPixel", 1) or 1), photometric=str(get("PhotometricInterpretation", "")),
        bits_allocated=int(get("BitsAllocated", 0) or 0), bits_stored=int(get("BitsStored", 0) or 0),
        pixel_representation=int(get("PixelRepresentation", 0) or 0),
        planar_configuration=int(get("PlanarConfiguration", 0) or 0),
        rescale_slope=1.0 if slope is None or slope == 0 else slope,
        rescale_intercept=float(_num(get("RescaleIntercept")) or 0.0), rescale_type=str(get("RescaleType", "")),
        philips_scale_slope=_num(get("PhilipsScaleSlope")) if manufacturer.upper().startswith("PHILIPS") else None,
        window_centers=_floats(get("WindowCenter")), window_widths=_floats(get("WindowWidth")),
        window_explanations=_strings(get("WindowCenterWidthExplanation")),
        image_position=position if len(position) == 3 else None,
        image_orientation=orientation if len(orientation) == 6 else None,
        pixel_spacing=spacing if len(spacing) == 2 else None,
        slice_thickness=_num(get("SliceThickness")), spacing_between_slices=_num(get("SpacingBetweenSlices")),
        gantry_tilt=_num(get("GantryDetectorTilt")), patient_position=str(get("PatientPosition", "")),
        echo_number=_num(echo[0] if _is_multi(echo) and echo else echo, int),
        echo_time=_num(get("EchoTime")), temporal_position=_num(get("TemporalPositionIdentifier"), int),
        trigger_time=_num(get("TriggerTime")), acquisition_time=str(get("AcquisitionTime", "")),
        repetition_time=_num(get("RepetitionTime")), diffusion_b_value=_num(get("DiffusionBValue")),
        diffusion_gradient=gradient if len(gradient) == 3 else None,
        pixel_offset=pixel_offset, pixel_length=pixel_length,
        has_pixel_data=has_pixel_data, is_enhanced=is_enhanced,
        extra=_label_object_extra(str(get("SOPClassUID", "")), path),
    )


def _label_object_extra(sop_class_uid: str, path: str) -> dict[str, object]:
    """For a SEG or RTSTRUCT, the series it was drawn on and what the library lists of it (its sequences, which
    the tag scanner skips)."""
    from workstation.dicom.label_objects import LABEL_OBJECT_CLASSES, read_summary

    if sop_class_uid not in LABEL_OBJECT_CLASSES:
        return {}
    return read_summary(path)


_ENCODINGS = {(True, True): tagscan.IMPLICIT_LE, (False, True): tagscan.EXPLICIT_LE,
              (False, False): tagscan.EXPLICIT_BE}


def header_from_dataset(ds: Dataset, path: str, file_size: int = 0, mtime_ns: int = 0,
                        pixels: tuple[bool, int | None, int | None] | None = None) -> InstanceHeader:
    """Pick the fields of ``InstanceHeader`` out of a dataset read by pydicom.

    ``pixels`` is (has pixel data, offset, length) when the caller located
    them (a read that stopped before the pixels); otherwise they are taken
    from the dataset. A missing Transfer Syntax UID is filled in from the
    encoding pydicom detected, so the decoder always knows the byte order.
    """
    syntax = _syntax(ds)
    if pixels is None:
        has = "PixelData" in ds or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds
        # the raw element behind the public API: get_item() and elements() would read deferred pixels
        raw = ds._dict.get(0x7FE00010)
        tell, length = getattr(raw, "value_tell", None), getattr(raw, "length", None)
        native = syntax in tagscan.NATIVE_SYNTAXES and length not in (None, tagscan.UNDEFINED)
        pixels = (has, tell if native else None, length if native and tell is not None else None)
    return _build(_getter(ds), path, file_size, mtime_ns, syntax, has_pixel_data=pixels[0],
                  is_enhanced="PerFrameFunctionalGroupsSequence" in ds, pixel_offset=pixels[1], pixel_length=pixels[2])


def _getter(ds: Dataset) -> Callable[..., object]:
    """``ds.get`` by keyword, plus the private tags ``tagscan.WANTED`` names (raw bytes decoded as it does)."""
    private = {keyword: (tag, vr) for tag, (keyword, vr) in tagscan.WANTED.items() if tag >> 16 & 1}

    def get(keyword: str, default: object = None) -> object:
        if keyword not in private:
            return ds.get(keyword, default)
        tag, vr = private[keyword]
        element = ds.get(tag)
        if element is None:
            return default
        value = element.value
        if isinstance(value, bytes):  # implicit VR: pydicom does not know the private VR
            try:
                return tagscan.decode_value(vr, value)
            except tagscan.Unsupported:
                return default
        return value

    return get


def _syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    return syntax or _ENCODINGS.get(tuple(getattr(ds, "original_encoding", ()) or ()), "")


def _pixels_at(f: BinaryIO, syntax: str) -> tuple[bool, int | None, int | None]:
    """(has pixel data, offset, length) of the element where a read with ``stop_before_pixels`` stopped."""
    pos = f.tell()
    head = f.read(12)
    if len(head) < 8:
        return False, None, None
    order = ">" if syntax == tagscan.EXPLICIT_BE else "<"
    group, element = struct.unpack_from(order + "HH", head)
    tag = group << 16 | element
    if tag not in (tagscan.PIXEL_DATA, *tagscan.FLOAT_PIXEL_DATA):
        return False, None, None
    if syntax == tagscan.IMPLICIT_LE:
        length, start = struct.unpack_from("<I", head, 4)[0], pos + 8
    elif head[4:6] in (b"OB", b"OW", b"OD", b"OF", b"OL", b"OV", b"UN") and len(head) == 12:
        length, start = struct.unpack_from(order + "I", head, 8)[0], pos + 12
    else:
        length, start = struct.unpack_from(order + "H", head, 6)[0], pos + 8
    if tag != tagscan.PIXEL_DATA or length == tagscan.UNDEFINED or syntax not in tagscan.NATIVE_SYNTAXES:
        return True, None, None
    return True, start, length


def read_header(path: str | PathLike[str]) -> InstanceHeader:
    """Read one file's header without its pixels; ``DicomError`` names the file and the reason.

    The tag scanner handles the common little endian files several times
    faster than pydicom; anything it does not decode exactly like pydicom
    goes through pydicom, so both give the same header.
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            stat = os.fstat(f.fileno())
            return _read(f, str(p), stat.st_size, stat.st_mtime_ns)
    except OSError as exc:
        raise DicomError(f"cannot read the file ({exc.strerror or exc})", p) from exc


def header_of_bytes(data: bytes | bytearray, path: str | PathLike[str]) -> InstanceHeader:
    """The header of a file held in memory, as ``read_header`` gives it once ``data`` is the file ``path``
    (but for its modification time, 0 here): a received object is checked before it is written, and
    not read back."""
    return _read(io.BytesIO(data), str(path), len(data), 0)


def _read(f: BinaryIO, path: str, size: int, mtime_ns: int) -> InstanceHeader:
    try:
        try:
            raw = tagscan.scan_file(f, size)
        except tagscan.Unsupported:
            return _read_with_pydicom(f, path, size, mtime_ns)
    except tagscan.NotDicom as exc:
        raise DicomError(f"not a DICOM file ({exc})", path) from exc
    except RecursionError as exc:  # found by tests/reliability/test_fuzz.py: thousands of nested sequences
        raise DicomError("sequences nested too deeply to read", path) from exc
    except MemoryError as exc:  # found by the fuzzer: a damaged length field asking for gigabytes
        raise DicomError("an element declares a length too large to read (damaged file?)", path) from exc
    return _build(raw.values.get, path, size, mtime_ns, raw.transfer_syntax_uid,
                  raw.has_pixel_data, raw.is_enhanced, raw.pixel_offset, raw.pixel_length)


def read_header_pydicom(path: str | PathLike[str]) -> InstanceHeader:
    """The same header read by pydicom alone: the reference the fast path is tested against."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            stat = os.fstat(f.fileno())
            head = f.read(132)
            if not (head[128:132] == b"DICM" or tagscan.looks_like_dataset(head)):
                raise DicomError("not a DICOM file (no DICM prefix and no DICOM element at the start)", p)
            return _read_with_pydicom(f, str(p), stat.st_size, stat.st_mtime_ns)
    except OSError as exc:
        raise DicomError(f"cannot read the file ({exc.strerror or exc})", p) from exc


def _read_with_pydicom(f: BinaryIO, path: str, size: int, mtime_ns: int) -> InstanceHeader:
    import pydicom  # imported here: the fast path and worker start-up do without its 0.3 s import
    from pydicom.errors import BytesLengthException, InvalidDicomError

    f.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's warnings quote header values, patient names among them
            ds = pydicom.dcmread(f, stop_before_pixels=True, force=True)
            syntax = _syntax(ds)
            if syntax == tagscan.DEFLATED_LE:  # the stop position is inside the inflated stream: read it all
                f.seek(0)
                ds = pydicom.dcmread(f, defer_size=256, force=True)
                return header_from_dataset(ds, path, size, mtime_ns)
            return header_from_dataset(ds, path, size, mtime_ns, _pixels_at(f, syntax))
    except InvalidDicomError as exc:
        raise DicomError(f"not a DICOM file ({exc})", path) from exc
    except (ValueError, EOFError, KeyError, TypeError, AttributeError, NotImplementedError, OverflowError,
            BytesLengthException, zlib.error, struct.error) as exc:
        raise DicomError(f"unreadable DICOM header ({type(exc).__name__})", path) from exc
