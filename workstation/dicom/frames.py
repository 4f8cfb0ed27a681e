"""The 2D images a series is built from: one per single-frame file, one per frame of a multi-frame file.

Assembly sorts, groups and places ``Frame`` objects, not files, so that a
folder of single-frame slices, a legacy multi-frame object and an enhanced
multi-frame object with per-frame functional groups all go through the same
geometry code. A frame carries the facts that may differ per frame
(position, orientation, spacing, modality LUT, window, what splits volumes);
the rest is read from its file's ``InstanceHeader``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from workstation.dicom.header import InstanceHeader

Vector3 = tuple[float, float, float]
Orientation = tuple[float, float, float, float, float, float]


@dataclass
class Frame:
    """One 2D image and where it lies in the patient (LPS mm)."""

    header: InstanceHeader
    index: int = 0  # frame number within its file, 0-based
    position: Vector3 | None = None
    orientation: Orientation | None = None
    pixel_spacing: tuple[float, float] | None = None  # (between rows, between columns), as DICOM stores it
    slice_thickness: float | None = None
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    philips_scale_slope: float | None = None  # Philips private Scale Slope: see workstation.dicom.scaling
    kind: str = ""  # what the pixels are when one object holds several kinds ("M", "FIELD_MAP"): separate volumes
    windows: tuple[tuple[str, float, float], ...] = ()  # (name, centre, width) from the header
    # Frames at the same place that belong to different volumes differ here (echo, time, acquisition, stack).
    volume_key: tuple = ()
    # Orders repeats at one position in time (acquisition time, trigger time, instance, frame).
    order_key: tuple = ()
    label: str = ""  # how warnings name this frame: "instance 12", "frame 3 of x.dcm"
    # (first row, first column, rows, columns) of this image inside the decoded frame: a mosaic tile
    region: tuple[int, int, int, int] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.header.path

    @property
    def rows(self) -> int:
        return self.region[2] if self.region else self.header.rows

    @property
    def columns(self) -> int:
        return self.region[3] if self.region else self.header.columns


def windows_of(header: InstanceHeader) -> tuple[tuple[str, float, float], ...]:
    """The header's window centre/width pairs, named by their explanation when there is one."""
    out = []
    for n, (center, width) in enumerate(zip(header.window_centers, header.window_widths, strict=False)):
        if width > 0 and math.isfinite(center) and math.isfinite(width):
            name = header.window_explanations[n] if n < len(header.window_explanations) else ""
            out.append((name.strip() or f"Header {n + 1}", center, width))
    return tuple(out)


def volume_key_of(header: InstanceHeader) -> tuple:
    """What puts two images of one series at the same place into different volumes."""
    echo = header.echo_number if header.echo_number is not None else header.echo_time
    return (_sortable(echo), _sortable(header.temporal_position), _sortable(header.acquisition_number))


def order_key_of(header: InstanceHeader, frame: int = 0) -> tuple:
    """When an image was made, for ordering repeats at one position."""
    return (header.acquisition_time or "", _sortable(header.trigger_time), _sortable(header.instance_number), frame)


def _sortable(value: object) -> tuple:
    """Make None sort before numbers without comparing None to a number."""
    return (0, 0) if value is None else (1, value)


def label_of(header: InstanceHeader, frame: int | None = None) -> str:
    """A short name for warnings: the instance number, or the file name; never patient data."""
    name = header.path.replace("\\", "/").rsplit("/", 1)[-1]
    if frame is not None:
        return f"frame {frame + 1} of {name}"
    if header.instance_number is not None:
        return f"instance {header.instance_number}"
    return name


def single_frame(header: InstanceHeader) -> Frame:
    """The one frame of a single-frame file, all facts from its header."""
    return Frame(
        header=header, index=0, position=header.image_position, orientation=header.image_orientation,
        pixel_spacing=header.pixel_spacing, slice_thickness=header.slice_thickness,
        rescale_slope=header.rescale_slope, rescale_intercept=header.rescale_intercept,
        philips_scale_slope=header.philips_scale_slope,
        windows=windows_of(header), volume_key=volume_key_of(header), order_key=order_key_of(header),
        label=label_of(header))


def diffusion_of(frame: Frame) -> tuple[float, tuple[float, float, float]] | None:
    """(b-value, unit gradient in LPS) of a diffusion-weighted frame, from its header or its mosaic item."""
    if "diffusion" in frame.extra:
        return frame.extra["diffusion"]  # type: ignore[return-value]
    h = frame.header
    if h.diffusion_b_value is None:
        return None
    return h.diffusion_b_value, h.diffusion_gradient or (0.0, 0.0, 0.0)
