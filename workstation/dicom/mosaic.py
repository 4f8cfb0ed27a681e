"""Siemens mosaics: one DICOM image that tiles all slices of a volume (fMRI, diffusion).

A mosaic's header describes the whole tiled image: its Image Position is the
corner of the mosaic, not of the first slice, and the slice count and the
slice normal's sign live in Siemens' private CSA header. Here each tile
becomes a ``Frame`` with its own position, following the published recipe
(nibabel's ``dicomwrappers.MosaicWrapper``, dcm2niix): shift the position by
half the difference between mosaic and tile size, then step along the CSA
SliceNormalVector by the slice spacing.

UIH "VFRAME" images tile the slices the same way (5 x 4 tiles of 64 x 64,
say) but have no top-level Image Position: the slice count is in the private
(0065,1050) and each slice's position, acquisition time, b-value and
gradient in an item of the private sequence (0065,1051); the tile size is the
acquisition matrix. dcm2niix reads them the same way. A VFRAME image whose
private header does not say all of this is refused: without the positions
the tiled picture is not a volume.
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


_UIH = "Image Private Header"  # private creator of UIH's group 0065


def is_mosaic(header: InstanceHeader) -> bool:
    return any(t.strip().upper() in ("MOSAIC", "VFRAME") for t in header.image_type) and header.number_of_frames == 1


def _is_uih(header: InstanceHeader) -> bool:
    return any(t.strip().upper() == "VFRAME" for t in header.image_type)


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
        if _is_uih(header):
            return _uih_frames(ds, header)
        raw = _private(ds, 0x0029, "SIEMENS CSA HEADER", 0x10)
        csa = read_csa(raw) if isinstance(raw, bytes) else {}
        count = _count(ds, csa)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, struct.error,
            BytesLengthException, RecursionError, MemoryError, OverflowError) as exc:  # the last four: fuzzer
        vendor = "UIH VFRAME" if _is_uih(header) else "Siemens mosaic"
        raise DicomError(f"unreadable {vendor} header ({type(exc).__name__}: {exc})", header.path) from exc
    if not count or count < 1:
        raise DicomError("Siemens mosaic without NumberOfImagesInMosaic", header.path)
    grid = math.ceil(math.sqrt(count))
    rows, columns = header.rows // grid, header.columns // grid
    if rows * grid != header.rows or columns * grid != header.columns:
        raise DicomError(f"mosaic of {header.rows} x {header.columns} pixels does not split into "
                         f"{grid} x {grid} tiles", header.path)
    step = header.spacing_between_slices or header.slice_thickness
    if not (header.image_position and header.image_orientation and header.pixel_spacing and step and step > 0):
        # stacked at a nominal place and spacing, the tiles would make a volume that looks right and is not
        raise DicomError("Siemens mosaic without ImagePositionPatient, ImageOrientationPatient, PixelSpacing and a "
                         "slice spacing; cannot place its slices", header.path)
    row_dir, col_dir = np.asarray(header.image_orientation[:3]), np.asarray(header.image_orientation[3:])
    between_rows, between_columns = header.pixel_spacing
    corner = (np.asarray(header.image_position) + col_dir * between_rows * (header.rows - rows) / 2
              + row_dir * between_columns * (header.columns - columns) / 2)
    normal = np.cross(row_dir, col_dir)
    stated = [float(v) for v in csa.get("SliceNormalVector", [])]
    if len(stated) == 3 and np.dot(stated, normal) < 0:
        normal = -normal
    positions = [tuple(float(v) for v in corner + k * step * normal) for k in range(count)]
    return _tiles(header, positions, (rows, columns), grid, "mosaic")


def _tiles(header: InstanceHeader, positions: list[tuple[float, ...]], tile: tuple[int, int], per_row: int,
           kind: str, extra: dict[str, object] | None = None) -> list[Frame]:
    """One ``Frame`` per tile, row by row, ``per_row`` tiles of ``tile`` (rows, columns) pixels to a row."""
    rows, columns = tile
    name = label_of(header, 0).split(" of ", 1)[1]
    return [Frame(
        header=header, index=0, position=position, orientation=header.image_orientation,
        pixel_spacing=header.pixel_spacing, slice_thickness=header.slice_thickness,
        rescale_slope=header.rescale_slope, rescale_intercept=header.rescale_intercept, windows=windows_of(header),
        volume_key=volume_key_of(header), order_key=order_key_of(header, k), label=f"slice {k + 1} of {kind} {name}",
        region=((k // per_row) * rows, (k % per_row) * columns, rows, columns), extra=dict(extra or {}))
        for k, position in enumerate(positions)]


def _uih_frames(ds: Dataset, header: InstanceHeader) -> list[Frame]:
    """One ``Frame`` per tile of a UIH VFRAME image, placed by its item of (0065,1051)."""
    count_value = _private(ds, 0x0065, _UIH, 0x50)
    items = _private(ds, 0x0065, _UIH, 0x51)
    count = int(float(count_value)) if count_value not in (None, "") else 0
    if count < 1 or items is None or len(items) != count:
        raise DicomError(f"UIH VFRAME image whose private header gives {count} slices and "
                         f"{0 if items is None else len(items)} slice positions; cannot unpack it", header.path)
    positions = [tuple(float(v) for v in item.get("ImagePositionPatient") or ()) for item in items]
    if any(len(p) != 3 for p in positions) or header.image_orientation is None:
        raise DicomError("UIH VFRAME image without a position for every slice or without an orientation; "
                         "cannot place its slices", header.path)
    rows, columns = _uih_tile(ds, header, count)
    b_value = _private(ds, 0x0065, _UIH, 0x09)
    gradient = _private(ds, 0x0065, _UIH, 0x37)
    diffusion = None
    if b_value is not None and gradient is not None and len(gradient) == 3:
        # UIH gives the gradient along the image's row, column and normal axes; Frames carry LPS
        row, column = np.asarray(header.image_orientation[:3]), np.asarray(header.image_orientation[3:])
        axes = np.column_stack([row, column, np.cross(row, column)])
        diffusion = (float(b_value), tuple(float(v) for v in axes @ np.asarray(gradient, dtype=np.float64)))
    return _tiles(header, positions, (rows, columns), header.columns // columns, "VFRAME",
                  {"diffusion": diffusion} if diffusion else None)


def _uih_tile(ds: Dataset, header: InstanceHeader, count: int) -> tuple[int, int]:
    """(rows, columns) of one tile: the acquisition matrix, when exactly one reading of it tiles the image."""
    matrix = [int(v) for v in (ds.get("AcquisitionMatrix") or ()) if int(v) > 0]
    fits = {(r, c) for r, c in ((matrix[0], matrix[-1]), (matrix[-1], matrix[0])) if matrix
            and header.rows % r == 0 and header.columns % c == 0
            and count <= (header.rows // r) * (header.columns // c) < count + header.columns // c}
    if len(fits) != 1:
        raise DicomError(f"UIH VFRAME image of {header.rows} x {header.columns} pixels: the acquisition matrix "
                         f"{matrix} does not tile it into {count} slices; cannot unpack it", header.path)
    return fits.pop()
