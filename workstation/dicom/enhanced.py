"""Frames of multi-frame objects: enhanced (functional groups) and legacy (one position plus offsets).

A single-frame file's header says where its one image lies. A multi-frame
object says it per frame: enhanced objects (Enhanced CT/MR/PET...) in their
Per-frame and Shared Functional Groups, legacy ones (RT Dose, NM, old
multi-frame MR) with one Image Position plus a Grid Frame Offset Vector or a
Spacing Between Slices. These objects are rare and their functional groups are
deep sequences, so they are read here with pydicom (header only) rather than by
the fast header reader.
"""

from __future__ import annotations

import math
from collections.abc import MutableSequence
from typing import TYPE_CHECKING

from workstation.dicom.frames import Frame, label_of, order_key_of, volume_key_of, windows_of
from workstation.dicom.header import InstanceHeader, header_from_dataset
from workstation.errors import DicomError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# Dimension index pointers that say where a frame lies in space, not which volume it belongs to.
_SPATIAL_DIMENSIONS = {0x00209057, 0x00200032, 0x00209056}  # In-Stack Position, Image Position, Stack ID
_GRID_FRAME_OFFSET_VECTOR = 0x3004000C
_TIME_POINTERS = {0x00181063, 0x00181065, 0x00181060}  # Frame Time, Frame Time Vector, Trigger Time
MAX_FRAMES = 1_000_000
_PLACED_CLASSES = frozenset({  # enhanced CT, MR, MR colour, PET and their legacy-converted forms: positions are type 1
    "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2", "1.2.840.10008.5.1.4.1.1.4.1",
    "1.2.840.10008.5.1.4.1.1.4.3", "1.2.840.10008.5.1.4.1.1.4.4", "1.2.840.10008.5.1.4.1.1.128.1",
    "1.2.840.10008.5.1.4.1.1.130"})
_PHILIPS_FRAME_ITEM = 0x2005140F  # Philips' private per-frame functional group
_PHILIPS_SCALE_SLOPE = 0x2005100E  # its Scale Slope


def multiframe_frames(header: InstanceHeader) -> list[Frame]:
    """One ``Frame`` per frame of a multi-frame object, with its own position and modality LUT."""
    import pydicom  # deferred: most folders hold no multi-frame objects, and pydicom takes 0.3 s to import
    from pydicom.errors import BytesLengthException, InvalidDicomError

    if not 0 < header.number_of_frames <= MAX_FRAMES:  # found by the fuzzer: absurd counts overflowed lists
        raise DicomError(f"NumberOfFrames {header.number_of_frames} is not plausible", header.path)
    try:
        ds = pydicom.dcmread(header.path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, AttributeError,
            BytesLengthException, RecursionError, MemoryError, OverflowError) as exc:  # the last four: fuzzer
        raise DicomError(f"unreadable multi-frame header ({type(exc).__name__}: {exc})", header.path) from exc
    if "PerFrameFunctionalGroupsSequence" in ds:
        return _enhanced_frames(ds, header)
    return _legacy_frames(ds, header)


def _item(ds: Dataset | None, keyword: str | int) -> Dataset | None:
    """The first item of a sequence (by keyword, or by tag for a private one), or None."""
    if ds is None:
        return None
    seq = ds.get(keyword)
    if isinstance(keyword, int):
        seq = getattr(seq, "value", None)
    return seq[0] if seq else None


def _as_list(value: object) -> list:
    """A multi-valued element as a list; a single value as a one-item list; absent as empty."""
    if value is None:
        return []
    return list(value) if isinstance(value, (tuple, MutableSequence)) else [value]


def _floats(value: object, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in _as_list(value))
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(math.isfinite(n) for n in numbers) else None


def _number(value: object) -> float | None:
    numbers = _floats(value, 1)
    return numbers[0] if numbers else None


def _enhanced_frames(ds: Dataset, base: InstanceHeader) -> list[Frame]:
    """Frames from the Per-frame Functional Groups, falling back to the Shared ones, then to the top level."""
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.PerFrameFunctionalGroupsSequence
    volume_pointers = [int(item.DimensionIndexPointer) for item in ds.get("DimensionIndexSequence", [])
                       if "DimensionIndexPointer" in item]
    frames = []
    for f in range(base.number_of_frames):
        own = per_frame[f] if f < len(per_frame) else None

        def group(keyword: str | int, own: Dataset | None = own) -> Dataset | None:
            return _item(own, keyword) or _item(shared, keyword)

        position = group("PlanePositionSequence")
        orientation = group("PlaneOrientationSequence")
        measures = group("PixelMeasuresSequence")
        transform = group("PixelValueTransformationSequence")
        voi = group("FrameVOILUTSequence")
        content = _item(own, "FrameContentSequence") or {}
        echo = group("MREchoSequence")
        frame_type = group("MRImageFrameTypeSequence") or group("CTImageFrameTypeSequence")
        kinds = _as_list(frame_type.get("FrameType")) if frame_type is not None else []
        philips = group(_PHILIPS_FRAME_ITEM) if base.manufacturer.upper().startswith("PHILIPS") else None
        timing = group("MRTimingAndRelatedParametersSequence")
        repetition_time = _number(timing.get("RepetitionTime")) if timing is not None else None
        slope = _number(transform.get("RescaleSlope")) if transform is not None else None
        intercept = _number(transform.get("RescaleIntercept")) if transform is not None else None
        indices = _as_list(content.get("DimensionIndexValues"))
        if len(indices) == len(volume_pointers) and volume_pointers:
            volume_key = tuple(int(v) for v, p in zip(indices, volume_pointers, strict=True)
                               if p not in _SPATIAL_DIMENSIONS)
            volume_key += (str(content.get("StackID", "")),)
        else:
            volume_key = (int(content.get("TemporalPositionIndex", 0) or 0), str(content.get("StackID", "")),
                          _number(echo.get("EffectiveEchoTime")) if echo is not None else None)
        frames.append(Frame(
            header=base, index=f,
            position=_floats(position.get("ImagePositionPatient"), 3) if position is not None else base.image_position,
            orientation=(_floats(orientation.get("ImageOrientationPatient"), 6) if orientation is not None
                         else base.image_orientation),
            pixel_spacing=_floats(measures.get("PixelSpacing"), 2) if measures is not None else base.pixel_spacing,
            slice_thickness=_number(measures.get("SliceThickness")) if measures is not None else base.slice_thickness,
            rescale_slope=slope if slope else base.rescale_slope,
            rescale_intercept=intercept if intercept is not None else base.rescale_intercept,
            philips_scale_slope=_number(philips.get(_PHILIPS_SCALE_SLOPE).value) if philips is not None
            and _PHILIPS_SCALE_SLOPE in philips else base.philips_scale_slope,
            kind=str(kinds[3]).strip().upper() if len(kinds) > 3 else "",
            windows=windows_of(header_from_dataset(voi, base.path)) if voi is not None else windows_of(base),
            volume_key=volume_key,
            order_key=(str(content.get("FrameAcquisitionDateTime", "")), f),
            label=label_of(base, f), extra={"repetition_time": repetition_time} if repetition_time else {}))
    unplaced = [frame.label for frame in frames if frame.position is None or frame.orientation is None]
    if unplaced and len(frames) > 1 and base.sop_class_uid in _PLACED_CLASSES:
        # these objects must place every frame; a nominal stack of them would be a volume that is not there
        raise DicomError(f"{len(unplaced)} of {len(frames)} frames have no Plane Position/Orientation (first: "
                         f"{unplaced[0]}); cannot place them", base.path)
    return frames


def _legacy_frames(ds: Dataset, base: InstanceHeader) -> list[Frame]:
    """Frames of an object with one Image Position: offsets along the slice normal, or time points."""
    n = base.number_of_frames
    pointers = {int(p) for p in _as_list(ds.get("FrameIncrementPointer"))}
    slope = base.rescale_slope
    if "DoseGridScaling" in ds:  # RT Dose stores its scale here instead of in the modality LUT
        slope = _number(ds.DoseGridScaling) or slope
    positions: list[tuple[float, float, float] | None] = [None] * n
    is_time_series = bool(pointers & _TIME_POINTERS) and _GRID_FRAME_OFFSET_VECTOR not in pointers
    ipp, iop = base.image_position, base.image_orientation
    if is_time_series:
        positions = [ipp] * n
    elif ipp is not None and iop is not None:
        normal = _cross(iop[:3], iop[3:])
        offsets = _floats(ds.get("GridFrameOffsetVector"), n)
        step = base.spacing_between_slices or base.slice_thickness
        if offsets is not None and offsets[0] != 0 and iop == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0):
            # "type b" offsets: absolute z coordinates of an axial stack (PS3.3 C.8.8.3.2)
            positions = [(ipp[0], ipp[1], z) for z in offsets]
        elif offsets is not None:
            positions = [tuple(p + o * c for p, c in zip(ipp, normal, strict=True)) for o in offsets]
        elif step:
            positions = [tuple(p + f * step * c for p, c in zip(ipp, normal, strict=True)) for f in range(n)]
    return [Frame(
        header=base, index=f, position=positions[f], orientation=iop, pixel_spacing=base.pixel_spacing,
        slice_thickness=base.slice_thickness, rescale_slope=slope, rescale_intercept=base.rescale_intercept,
        windows=windows_of(base),
        volume_key=volume_key_of(base) + ((f,) if is_time_series else ()),
        order_key=order_key_of(base, f), label=label_of(base, f)) for f in range(n)]


def _cross(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float]:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])
