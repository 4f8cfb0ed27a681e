"""Pixels to real values, written straight into one preallocated volume array.

Why a module of its own: pydicom's ``pixel_array`` allocates per file and its
modality LUT works in float64; for a 150 MB CT that doubles memory and time.
Here the output type is decided once per volume, before anything is
allocated, and every frame lands in its slot of the volume array:

- native little endian frames are read from the file offset straight into
  the slot (``readinto``), then shifted by an integral intercept in place;
- big endian, deflated and compressed frames (RLE, JPEG baseline/extended/
  lossless, JPEG-LS, JPEG 2000, HTJ2K) go through pydicom's pixel plugins
  (GDCM, pylibjpeg-openjpeg, pylibjpeg-rle, pyjpegls, and GDCM again for 12-bit
  JPEG extended: ``jpeg12``), one frame at a time;
- the modality LUT gives real units (HU for CT): an integer type is kept when
  the slope is 1 and the intercept integral (int16 HU for CT when the values
  fit; checked on the data, widened to int32 only if they do not), float32
  otherwise; there are no float64 intermediates;
- MONOCHROME1 is inverted (stored ``x`` becomes ``min + max - x`` over the
  declared stored range) so that high values are bright like MONOCHROME2;
  this is folded into the modality LUT (negated slope), and the header's
  window presets are mirrored the same way, so a viewer needs no special case;
- colour (RGB, YBR_*, PALETTE COLOR) is decoded to RGB and reduced to its
  luminance (ITU-R BT.601), because a Volume holds one value per voxel.

Before any allocation, ``pixel_problem`` checks that the declared image size
fits the bytes the file really holds, so a header declaring 60000 x 60000
pixels is refused with a message instead of allocating gigabytes.
"""

from __future__ import annotations

import struct
import threading
import zlib
from dataclasses import dataclass

import numpy as np

from workstation.dicom import jpeg12
from workstation.dicom.frames import Frame
from workstation.dicom.header import InstanceHeader
from workstation.errors import DicomError

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
LITTLE_ENDIAN_NATIVE = frozenset({EXPLICIT_LE, IMPLICIT_LE})
NATIVE = LITTLE_ENDIAN_NATIVE | {EXPLICIT_BE}
GRAY = frozenset({"MONOCHROME1", "MONOCHROME2"})
COLOUR = frozenset({"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420", "PALETTE COLOR"})
LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Lossless codecs rarely pass 30:1; anything declaring far more than this is a broken header, not an image.
MAX_COMPRESSION_RATIO = 1000


def stored_dtype(header: InstanceHeader) -> np.dtype:
    """The numpy type of one stored sample (native byte order)."""
    kind = "i" if header.pixel_representation == 1 else "u"
    return np.dtype(f"{kind}{header.bits_allocated // 8}")


def frame_bytes(header: InstanceHeader) -> int:
    return header.rows * header.columns * header.samples_per_pixel * header.bits_allocated // 8


def pixel_problem(header: InstanceHeader) -> str | None:
    """Why this file's pixels cannot be decoded into a volume, or None; checked before allocating anything."""
    h = header
    if h.bits_allocated not in (8, 16, 32):
        return f"BitsAllocated {h.bits_allocated} is not supported (8, 16 or 32)"
    if not 0 < h.bits_stored <= h.bits_allocated:
        return f"BitsStored {h.bits_stored} contradicts BitsAllocated {h.bits_allocated}"
    if h.samples_per_pixel not in (1, 3):
        return f"SamplesPerPixel {h.samples_per_pixel} is not supported (1 or 3)"
    photometric = h.photometric.strip().upper()
    if h.samples_per_pixel == 1 and photometric not in GRAY | {"PALETTE COLOR"}:
        return f"PhotometricInterpretation {h.photometric or 'missing'} contradicts SamplesPerPixel 1"
    if h.samples_per_pixel == 3 and photometric not in COLOUR:
        return f"PhotometricInterpretation {h.photometric or 'missing'} contradicts SamplesPerPixel 3"
    declared = frame_bytes(h) * h.number_of_frames
    size = (f"declares {h.number_of_frames} x {h.rows} x {h.columns} pixels of {h.bits_allocated} bits "
            f"({_human(declared)})")
    if h.transfer_syntax_uid in NATIVE:
        available = h.pixel_length if h.pixel_length is not None else h.file_size
        if h.pixel_offset is not None and h.file_size:
            available = min(available, h.file_size - h.pixel_offset)
        if declared > available:
            return f"{size} but holds {_human(available)} of pixel data (truncated or contradictory tags)"
    elif h.file_size and declared > h.file_size * MAX_COMPRESSION_RATIO:
        return f"{size}, more than {MAX_COMPRESSION_RATIO} times its file size of {_human(h.file_size)}"
    return None


def _human(n: int) -> str:
    n = min(n, 10**15)  # found by the fuzzer: absurd declared sizes overflowed the float division
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


# -- modality LUT --------------------------------------------------------------------------------------------------

def stored_range(header: InstanceHeader) -> tuple[int, int]:
    """Smallest and largest stored value the header allows."""
    bits = header.bits_stored
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if header.pixel_representation == 1 else (0, (1 << bits) - 1)


def is_inverted(header: InstanceHeader) -> bool:
    return header.photometric.strip().upper() == "MONOCHROME1"


def modality_lut(frame: Frame) -> tuple[float, float]:
    """(slope, intercept) from stored values to output values, MONOCHROME1 inversion included."""
    slope, intercept = frame.rescale_slope, frame.rescale_intercept
    if is_inverted(frame.header):
        low, high = stored_range(frame.header)
        return -slope, slope * (low + high) + intercept
    return slope, intercept


def mirror_window(header: InstanceHeader, slope: float, intercept: float, center: float) -> float:
    """A header window centre after MONOCHROME1 inversion (the width is unchanged)."""
    if not is_inverted(header):
        return center
    low, high = stored_range(header)
    return slope * (low + high) + 2 * intercept - center


def is_colour(header: InstanceHeader) -> bool:
    return header.samples_per_pixel == 3 or header.photometric.strip().upper() == "PALETTE COLOR"


@dataclass(frozen=True)
class OutputType:
    """The volume's dtype and whether values go through the exact integer path."""

    dtype: np.dtype
    integer: bool


def output_type(frames: list[Frame]) -> OutputType:
    """Pick the output dtype for a volume before allocating it.

    Integer when every frame's LUT is ``+-x + integer``: the stored type if
    that holds the declared output range, else the same-size signed type,
    which is checked against the real values while decoding (CT int16 HU with
    intercept -1024 fits in practice, not by declaration) and widened to int32
    only if they do not fit. Colour luminance keeps the stored unsigned type.
    Everything else is float32.
    """
    header = frames[0].header
    if is_colour(header):
        return OutputType(np.dtype(f"u{header.bits_allocated // 8}"), True)
    luts = {modality_lut(f) for f in frames}
    stored = stored_dtype(header)
    if luts == {(1.0, 0.0)}:
        return OutputType(stored, True)  # stored values are the real values, whatever their size
    if header.bits_allocated > 16 or any(abs(s) != 1 or not float(b).is_integer() for s, b in luts):
        return OutputType(np.dtype(np.float32), False)
    low, high = stored_range(header)
    ends = [s * v + b for s, b in luts for v in (low, high)]
    for candidate in (stored, np.dtype(f"i{stored.itemsize}")):
        info = np.iinfo(candidate)
        if info.min <= min(ends) and max(ends) <= info.max:
            return OutputType(candidate, True)
    return OutputType(np.dtype(f"i{stored.itemsize}"), True)


# -- decoding one frame into its slot -------------------------------------------------------------------------------

def read_native(frame: Frame, out: np.ndarray | None = None) -> np.ndarray:
    """The stored values of one native grey frame, read from its file offset (into ``out`` when given).

    ``out`` must have the stored type's item size; it is filled as the stored
    type and returned reinterpreted as such.
    """
    h = frame.header
    if h.pixel_offset is None:
        raise DicomError("the pixel data offset is unknown", h.path)
    dtype = stored_dtype(h)
    if h.transfer_syntax_uid == EXPLICIT_BE:
        dtype = dtype.newbyteorder(">")
    target = np.empty((h.rows, h.columns), dtype=dtype) if out is None else out.view(dtype)
    with open(h.path, "rb", buffering=0) as f:
        f.seek(h.pixel_offset + frame.index * frame_bytes(h))
        got = f.readinto(memoryview(target).cast("B"))
    if got != target.nbytes:
        raise DicomError(f"pixel data ends after {got} of {target.nbytes} bytes (file truncated)", h.path)
    if target.dtype.byteorder == ">":
        target = target.astype(target.dtype.newbyteorder("="))
    _clean_high_bits(target, h)
    return target


def _clean_high_bits(values: np.ndarray, header: InstanceHeader) -> None:
    """Drop bits above BitsStored (overlays, garbage) and sign-extend signed values, in place."""
    unused = header.bits_allocated - header.bits_stored
    if unused <= 0:
        return
    if header.pixel_representation == 1:
        np.left_shift(values, unused, out=values)
        np.right_shift(values, unused, out=values)
    else:
        np.bitwise_and(values, (1 << header.bits_stored) - 1, out=values)


SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
"""(FFFE,E0DD) with length 0: the item that closes encapsulated pixel data."""


def _require_sequence_end(h: InstanceHeader) -> None:
    """Refuse encapsulated pixel data cut off before its closing delimiter.

    Found by the fuzzer: on such a truncated file pydicom's ``pixel_array``
    spends minutes of CPU walking the missing fragments; the file cannot
    decode anyway.
    """
    import mmap

    try:
        with open(h.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            closed = data.rfind(SEQUENCE_DELIMITER, h.pixel_offset or 0) != -1
    except (OSError, ValueError) as exc:
        raise DicomError(f"cannot read the pixel data ({type(exc).__name__}: {exc})", h.path) from exc
    if not closed:
        raise DicomError("cannot decode pixel data: the encapsulated pixel data ends without its sequence "
                         "delimiter (the file is truncated)", h.path)


def decode_with_pydicom(frame: Frame) -> np.ndarray:
    """One frame through pydicom's pixel plugins: compressed, deflated, big endian; colour as RGB."""
    from pydicom.pixels import pixel_array  # deferred: the native fast path never needs pydicom

    jpeg12.register()
    h = frame.header
    if h.transfer_syntax_uid not in NATIVE and h.transfer_syntax_uid != DEFLATED_LE:
        _require_sequence_end(h)
    try:
        if h.photometric.strip().upper() == "PALETTE COLOR" or h.transfer_syntax_uid == DEFLATED_LE:
            values = _whole_dataset_pixels(frame)
        else:
            values = pixel_array(h.path, index=frame.index if h.number_of_frames > 1 else None,
                                 decoding_plugin=jpeg12.plugin_for(h.transfer_syntax_uid, h.bits_stored))
    except (ValueError, RuntimeError, NotImplementedError, KeyError, AttributeError, TypeError, EOFError,
            OSError, zlib.error, struct.error, MemoryError, RecursionError) as exc:  # the last three: fuzzer
        raise DicomError(f"cannot decode pixel data ({type(exc).__name__}: {exc})", h.path) from exc
    except BaseException as exc:  # found by the fuzzer: Rust decoders (pylibjpeg-rle) panic on damaged data
        if type(exc).__name__ != "PanicException":  # pyo3's, a BaseException: not importable by name
            raise
        raise DicomError(f"cannot decode pixel data (decoder panic: {exc})", h.path) from exc
    if values.shape[:2] != (h.rows, h.columns) or values.ndim > 3:  # found by the fuzzer: frame count lied
        raise DicomError(f"decoded pixels have shape {values.shape}, the header says {h.rows} x {h.columns}", h.path)
    return values


def _whole_dataset_pixels(frame: Frame) -> np.ndarray:
    """Frames that need the whole dataset: deflated files (inflated first) and palette colour (LUTs)."""
    import pydicom
    from pydicom.pixels import apply_color_lut

    ds = pydicom.dcmread(frame.header.path)
    values = ds.pixel_array if frame.header.number_of_frames == 1 else ds.pixel_array[frame.index]
    return apply_color_lut(values, ds) if frame.header.photometric.strip().upper() == "PALETTE COLOR" else values


def luminance(rgb: np.ndarray, out: np.ndarray) -> None:
    """BT.601 luma of an (rows, cols, 3) RGB image, rounded into ``out``; float32 only."""
    y = rgb.astype(np.float32) @ LUMINANCE
    np.rint(y, out=y)
    out[...] = y


@dataclass
class SlotResult:
    """What happened to one slot: its stored range when values were left raw because the LUT overflowed."""

    raw_range: tuple[int, int] | None = None


def decode_into(frame: Frame, slot: np.ndarray, kind: OutputType) -> SlotResult:
    """Decode ``frame`` into ``slot`` (a (rows, cols) view of the volume array), applying the modality LUT.

    With the integer path, a frame whose real values do not fit the slot's
    dtype is left as stored values and its range is returned, so the caller
    can widen the volume once at the end.
    """
    h = frame.header
    slope, intercept = modality_lut(frame)
    if is_colour(h):
        luminance(decode_with_pydicom(frame), slot)
        return SlotResult()
    fast = h.transfer_syntax_uid in LITTLE_ENDIAN_NATIVE and h.pixel_offset is not None
    if frame.region is not None:
        r0, c0, rows, columns = frame.region
        stored = _whole_frame(frame)[r0:r0 + rows, c0:c0 + columns]
    elif kind.integer and fast and slot.dtype.itemsize == h.bits_allocated // 8:
        stored = read_native(frame, slot)  # straight into the volume, reinterpreted as the stored type
    else:
        stored = _stored_values(frame)
    if stored.shape != slot.shape:
        raise DicomError(f"decoded frame has shape {stored.shape}, the header says {slot.shape}", h.path)
    if not kind.integer:
        np.multiply(stored, np.float32(slope), out=slot, dtype=np.float32)
        if intercept:
            np.add(slot, np.float32(intercept), out=slot)
        return SlotResult()
    return _integer_lut(stored, slot, int(slope), int(intercept))


def _stored_values(frame: Frame) -> np.ndarray:
    """A frame's stored values in native byte order: read from the file when native, else decoded."""
    h = frame.header
    if h.transfer_syntax_uid in NATIVE and h.pixel_offset is not None:
        return read_native(frame)
    return decode_with_pydicom(frame).astype(stored_dtype(h), copy=False)


_last_frame = threading.local()


def _whole_frame(frame: Frame) -> np.ndarray:
    """The decoded frame a mosaic tile is cut from, kept per thread: its tiles are decoded one after another."""
    key = (frame.header.path, frame.index)
    if getattr(_last_frame, "key", None) != key:
        _last_frame.key, _last_frame.values = None, _stored_values(frame)
        _last_frame.key = key
    return _last_frame.values


def _integer_lut(stored: np.ndarray, slot: np.ndarray, sign: int, intercept: int) -> SlotResult:
    """``slot = sign * stored + intercept`` exactly; ``stored`` may be ``slot``'s own memory (the direct read).

    Stored and slot types have the same size, and integer arithmetic wraps
    modulo 2**bits, so converting, negating and adding in the slot's type
    gives the exact result whenever that result fits, which is checked first.
    """
    shared = np.shares_memory(stored, slot)
    if sign == 1 and intercept == 0:
        if not shared:
            np.copyto(slot, stored, casting="unsafe")
        return SlotResult()
    low, high = int(stored.min()), int(stored.max())
    first, last = sorted((sign * low + intercept, sign * high + intercept))
    info = np.iinfo(slot.dtype)
    if first < info.min or last > info.max:
        if not shared:
            slot.view(stored.dtype)[...] = stored
        return SlotResult(raw_range=(low, high))
    if not shared:
        np.copyto(slot, stored, casting="unsafe")
    if sign == -1:
        np.negative(slot, out=slot)
    if intercept:
        np.add(slot, np.int64(intercept).astype(slot.dtype), out=slot, casting="unsafe")
    return SlotResult()


def widen(volume: np.ndarray, raw_slots: dict[int, tuple[np.dtype, float, float]]) -> np.ndarray:
    """A copy of ``volume`` as int32 (or float32 if int32 cannot hold it) with raw slots finished.

    ``raw_slots`` maps a flat slot index to (stored dtype, slope, intercept)
    for slots left as stored values because their real values overflowed.
    """
    flat_in = volume.reshape(-1, *volume.shape[-2:])
    wide = np.empty(volume.shape, dtype=np.int32)
    flat = wide.reshape(-1, *volume.shape[-2:])
    for n in range(flat_in.shape[0]):
        if n in raw_slots:
            dtype, slope, intercept = raw_slots[n]
            np.multiply(flat_in[n].view(dtype), np.int32(slope), out=flat[n], dtype=np.int32)
            np.add(flat[n], np.int32(intercept), out=flat[n])
        else:
            flat[n] = flat_in[n]
    return wide
