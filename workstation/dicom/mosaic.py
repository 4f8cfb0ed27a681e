"""Siemens mosaics: one DICOM image that tiles all slices of a volume (fMRI, diffusion).

A mosaic's header describes the whole tiled image: its Image Position is the
corner of the mosaic, not of the first slice, and the slice count and the
slice normal's sign live in Siemens' private CSA header. Here each tile
becomes a ``Frame`` with its own position, following the published recipe
(nibabel's ``dicomwrappers.MosaicWrapper``, dcm2niix): shift the position by
half the difference between mosaic and tile size, then step along the CSA
SliceNormalVector by the slice spacing.
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING

import numpy as np

from workstation.dicom.frames import Frame, label_of, order_key_of, volume_key_of, windows_of
from workstation.dicom.header import InstanceHeader
from workstation.errors import DicomError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset


def is_mosaic(header: InstanceHeader) -> bool:
    return any(t.strip().upper() == "MOSAIC" for t in header.image_type) and header.number_of_frames == 1


def read_csa(data: bytes) -> dict[str, list[str]]:
    """The items of a Siemens CSA header (type 1 or 2 "SV10") as text, by tag name.

    The format is undocumented; this follows nibabel's ``csareader``. Raises
    ValueError on anything malformed.
    """
    offset = 8 if data[:4] == b"SV10" else 0
    csa2 = offset == 8
    n_tags, _check = struct.unpack_from("<2I", data, offset)
    if not 0 < n_tags <= 1000:
        raise ValueError(f"CSA header declares {n_tags} tags")
    offset += 8
    tags: dict[str, list[str]] = {}
    first_n_items = 0
    for number in range(n_tags):
        name, vm, _vr, _syngodt, n_items, _last = struct.unpack_from("<64si4s3i", data, offset)
        offset += 84
        if number == 1:
            first_n_items = n_items
        if not 0 <= n_items <= 1000:
            raise ValueError(f"CSA tag declares {n_items} items")
        values = []
        for item in range(n_items):
            x0, x1, _x2, _x3 = struct.unpack_from("<4i", data, offset)
            offset += 16
            length = x1 if csa2 else x0 - first_n_items
            if length < 0 or offset + length > len(data):
                if csa2:
                    raise ValueError("CSA item runs past the end")
                break
            if item < (vm or n_items) and length:
                values.append(data[offset:offset + length].split(b"\0", 1)[0].decode("latin-1").strip())
            offset += length + (-length % 4)
        tags[name.split(b"\0", 1)[0].decode("latin-1")] = values
    return tags


def _private(ds: Dataset, group: int, creator: str, element: int) -> object:
    try:
        return ds.private_block(group, creator)[element].value
    except KeyError:
        return None


def _count(ds: Dataset, csa: dict[str, list[str]]) -> int | None:
    """NumberOfImagesInMosaic from the CSA header, else Siemens' private (0019,xx0A)."""
    if csa.get("NumberOfImagesInMosaic"):
        return int(float(csa["NumberOfImagesInMosaic"][0]))
    value = _private(ds, 0x0019, "SIEMENS MR HEADER", 0x0A)
    if isinstance(value, bytes) and len(value) >= 2:
        little = getattr(ds, "is_little_endian", True) is not False
        return struct.unpack("<H" if little else ">H", value[:2])[0]
    return int(value) if value is not None else None


def mosaic_frames(header: InstanceHeader) -> list[Frame]:
    """One ``Frame`` per tile, each with its own position, in the order of the slice normal."""
    import pydicom  # deferred, as for enhanced objects: only mosaics need the private CSA header
    from pydicom.errors import BytesLengthException, InvalidDicomError

    try:
        ds = pydicom.dcmread(header.path, stop_before_pixels=True)
        raw = _private(ds, 0x0029, "SIEMENS CSA HEADER", 0x10)
        csa = read_csa(raw) if isinstance(raw, bytes) else {}
        count = _count(ds, csa)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, struct.error,
            BytesLengthException, RecursionError, MemoryError, OverflowError) as exc:  # the last four: fuzzer
        raise DicomError(f"unreadable Siemens mosaic header ({type(exc).__name__}: {exc})", header.path) from exc
    if not count or count < 1:
        raise DicomError("Siemens mosaic without NumberOfImagesInMosaic", header.path)
    grid = math.ceil(math.sqrt(count))
    rows, columns = header.rows // grid, header.columns // grid
    if rows * grid != header.rows or columns * grid != header.columns:
        raise DicomError(f"mosaic of {header.rows} x {header.columns} pixels does not split into "
                         f"{grid} x {grid} tiles", header.path)
    positions: list[tuple[float, float, float] | None] = [None] * count
    if header.image_position and header.image_orientation and header.pixel_spacing:
        row_dir, col_dir = np.asarray(header.image_orientation[:3]), np.asarray(header.image_orientation[3:])
        between_rows, between_columns = header.pixel_spacing
        corner = (np.asarray(header.image_position) + col_dir * between_rows * (header.rows - rows) / 2
                  + row_dir * between_columns * (header.columns - columns) / 2)
        normal = np.cross(row_dir, col_dir)
        stated = [float(v) for v in csa.get("SliceNormalVector", [])]
        if len(stated) == 3 and np.dot(stated, normal) < 0:
            normal = -normal
        step = header.spacing_between_slices or header.slice_thickness or 1.0
        positions = [tuple(float(v) for v in corner + k * step * normal) for k in range(count)]
    name = label_of(header, 0).split(" of ", 1)[1]
    return [Frame(
        header=header, index=0, position=positions[k], orientation=header.image_orientation,
        pixel_spacing=header.pixel_spacing, slice_thickness=header.slice_thickness,
        rescale_slope=header.rescale_slope, rescale_intercept=header.rescale_intercept, windows=windows_of(header),
        volume_key=volume_key_of(header), order_key=order_key_of(header, k),
        label=f"slice {k + 1} of mosaic {name}",
        region=((k // grid) * rows, (k % grid) * columns, rows, columns)) for k in range(count)]
