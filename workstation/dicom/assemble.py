"""From headers to volume plans: which images form which volume, in which order, on which exact grid.

A SeriesInstanceUID is not a volume. One series may hold localizers, several
orientations or image sizes, echoes, time points, repeated acquisitions, and
gaps. Here series are split where the grid differs (orientation, image size,
pixel spacing, series number), localizers are left out, images are sorted along
the slice normal (cross product of the orientation's row and column
directions), the slice spacing comes from the positions (never from
SliceThickness), and images at the same positions with different echo,
temporal position, acquisition or repeat become a 4th axis. Missing slices,
non-uniform spacing and gantry tilt become warnings that name the slices and
the amounts.

Geometry is kept honest: the direction's third column is the unit vector from
the first to the last slice position. For a tilted gantry that column is not
perpendicular to the slices, so the grid is sheared and every voxel centre
still lies where the scanner put it (dcm2niix instead resamples to an
orthogonal grid; resampling is left to the consumer, which is warned).

Nothing here reads pixels, so ``workstation info`` can describe a folder from
headers alone.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workstation import geometry
from workstation.dicom.enhanced import multiframe_frames
from workstation.dicom.frames import Frame, diffusion_of, single_frame
from workstation.dicom.header import InstanceHeader
from workstation.dicom.label_objects import LABEL_OBJECT_CLASSES
from workstation.dicom.mosaic import is_mosaic, mosaic_frames
from workstation.dicom.scaling import Scaling, to_philips_fp
from workstation.errors import DicomError, Skipped

POSITION_TOLERANCE_MM = 0.01
"""Images closer than this along the slice normal are at the same place (a repeat, another echo or time)."""
ORIENTATION_TOLERANCE = 1e-4
"""Largest difference of direction cosines still counted as the same orientation."""
DRIFT_TOLERANCE_MM = 1e-3
"""Sideways drift of the last slice below which the slice axis is taken as the exact slice normal."""
TILT_WARNING_DEGREES = 0.01
SPACING_WARNING_MM = 0.005
"""Largest misplacement of a slice on a uniform grid before non-uniform spacing is reported."""


@dataclass
class SeriesPlan:
    """One volume to load: its frames in array order and its exact grid.

    ``frames`` lists the frames time point by time point, slice by slice
    (``frames[t * nk + k]``); ``None`` marks a missing slice, filled with the
    volume's lowest value when loaded. ``direction`` is 3x3 with columns the
    unit i (row direction), j (column direction) and k (first to last slice)
    axes in LPS; ``origin`` is the centre of the first voxel.
    """

    series_uid: str
    reference: InstanceHeader
    frames: list[Frame | None]
    timepoints: int
    slices: int
    spacing: np.ndarray
    origin: np.ndarray
    direction: np.ndarray
    description: str = ""
    warnings: list[str] = field(default_factory=list)
    scaling: Scaling = "display"
    """Philips floating-point values when ``assemble`` was asked for them and the frames carry a Scale Slope."""
    diffusion: list[tuple[float, tuple[float, float, float]]] | None = None
    """(b-value s/mm2, unit gradient in LPS) per time point of a diffusion series, else None."""

    @property
    def rows(self) -> int:
        return self._first.rows

    @property
    def columns(self) -> int:
        return self._first.columns

    @property
    def _first(self) -> Frame:
        return next(f for f in self.frames if f is not None)

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape: (k, j, i), or (t, k, j, i) for several time points."""
        kji = (self.slices, self.rows, self.columns)
        return (self.timepoints, *kji) if self.timepoints > 1 else kji

    @property
    def size(self) -> list[int]:
        """[i, j, k] or [i, j, k, t], as ``workstation info`` prints it."""
        ijk = [self.columns, self.rows, self.slices]
        return ijk + [self.timepoints] if self.timepoints > 1 else ijk

    @property
    def affine(self) -> np.ndarray:
        return geometry.affine_from(self.spacing, self.origin, self.direction)

    @property
    def files(self) -> list[str]:
        """The distinct files this volume reads, in order of first use."""
        return list(dict.fromkeys(f.path for f in self.frames if f is not None))

    def frame_at(self, t: int, k: int) -> Frame | None:
        return self.frames[t * self.slices + k]


def assemble(headers: list[InstanceHeader], skipped: list[Skipped] | None = None,
             scaling: Scaling = "display") -> list[SeriesPlan]:
    """Plan the volumes a set of headers holds, with Philips data in the values ``scaling`` names.

    Images that cannot take part (localizers, no pixel data, unusable geometry,
    unreadable multi-frame groups, duplicates) are left out; each file with its
    reason goes to ``skipped`` when given.
    """
    skip = skipped.append if skipped is not None else (lambda entry: None)
    frames: list[Frame] = []
    seen: dict[str, str] = {}
    for header in headers:
        reason = _leave_out(header, seen)
        if reason:
            skip(Skipped(header.path, reason))
            continue
        try:
            own = _frames_of(header)
        except DicomError as exc:
            skip(Skipped.of(exc))
            continue
        for frame in own:
            _drop_unusable_spacing(frame)
        problems = [p for p in (_geometry_problem(f) for f in own) if p]
        if problems:
            skip(Skipped(header.path, problems[0]))
            continue
        frames.extend(own)

    by_series: dict[str, list[Frame]] = defaultdict(list)
    for frame in frames:
        by_series[frame.header.series_uid].append(frame)
    plans: list[SeriesPlan] = []
    for series_uid, series_frames in by_series.items():
        plans.extend(_plan_series(series_uid, series_frames, skip))
    if scaling == "philips-fp":
        for plan in plans:
            if to_philips_fp([f for f in plan.frames if f is not None]):
                plan.scaling = "philips-fp"
    plans.sort(key=lambda p: (p.reference.series_number if p.reference.series_number is not None else 1 << 31,
                              p.series_uid, p.description))
    return plans


def _frames_of(header: InstanceHeader) -> list[Frame]:
    if is_mosaic(header):
        return mosaic_frames(header)
    if header.number_of_frames > 1 or header.is_enhanced:
        return multiframe_frames(header)
    return [single_frame(header)]


# -- which images take part ---------------------------------------------------------------------------------------

def _leave_out(header: InstanceHeader, seen: dict[str, str]) -> str | None:
    """Why a file takes no part in any volume, or None."""
    kind = LABEL_OBJECT_CLASSES.get(header.sop_class_uid)
    if kind:
        drawn_on = ", ".join(header.extra.get("referenced_series_uids") or []) or "a series it does not name"
        return f"{kind} drawn on {drawn_on}: opened with those images, not as a volume"
    if not header.has_pixel_data:
        return "no pixel data (not an image)"
    if header.is_localizer:
        return "localizer image left out of the volumes"
    if header.rows <= 0 or header.columns <= 0:
        return f"image size {header.rows} x {header.columns} is not usable"
    if header.sop_instance_uid:
        first = seen.setdefault(header.sop_instance_uid, header.path)
        if first != header.path:
            return f"duplicate of {first} (same SOP Instance UID)"
    return None


def _drop_unusable_spacing(frame: Frame) -> None:
    """A zero, negative or non-finite PixelSpacing is treated as absent (1 mm assumed, with a warning).

    Such images (often CR or secondary captures) still show; only their size in mm is unknown.
    """
    if frame.pixel_spacing is not None and not all(math.isfinite(s) and s > 0 for s in frame.pixel_spacing):
        frame.extra["spacing_problem"] = (f"PixelSpacing {_fmt(frame.pixel_spacing)} of {frame.label} "
                                          "is not usable (must be > 0)")
        frame.pixel_spacing = None


def _geometry_problem(frame: Frame) -> str | None:
    """Why a frame's geometry tags cannot be used, or None."""
    if frame.position is not None and not all(math.isfinite(p) for p in frame.position):
        return "ImagePositionPatient is not a finite position"
    if frame.orientation is not None:
        row, col = np.asarray(frame.orientation[:3]), np.asarray(frame.orientation[3:])
        if not (np.all(np.isfinite(row)) and np.all(np.isfinite(col))):
            return "ImageOrientationPatient is not finite"
        if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3 or abs(row @ col) > 1e-3:
            return (f"ImageOrientationPatient {_fmt(frame.orientation)} is not two perpendicular unit vectors "
                    f"(lengths {np.linalg.norm(row):.4g}, {np.linalg.norm(col):.4g}, dot {row @ col:.3g})")
    return None


# -- splitting a series into stacks and volumes -------------------------------------------------------------------

_STACK_FIELDS = ("series number", "image size", "samples per pixel", "orientation", "pixel spacing",
                 "image type (magnitude, field map...)")


def _stack_key(frame: Frame) -> tuple:
    h = frame.header
    return (h.series_number, (frame.rows, frame.columns), h.samples_per_pixel, frame.orientation, frame.pixel_spacing,
            frame.kind)


def _same(a: object, b: object) -> bool:
    """Equal, with tolerance for orientations and spacings."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and all(
            isinstance(x, float) for x in a + b):
        return max(abs(x - y) for x, y in zip(a, b, strict=True)) <= ORIENTATION_TOLERANCE * max(
            1.0, max(abs(x) for x in a))
    return a == b


def _stacks(frames: list[Frame]) -> list[tuple[tuple, list[Frame]]]:
    """Group frames whose grids agree (series number, size, orientation, pixel spacing)."""
    groups: list[tuple[tuple, list[Frame]]] = []
    for frame in frames:
        key = _stack_key(frame)
        for other_key, members in groups:
            if all(_same(a, b) for a, b in zip(key, other_key, strict=True)):
                members.append(frame)
                break
        else:
            groups.append((key, [frame]))
    return groups


def _plan_series(series_uid: str, frames: list[Frame], skip: Callable[[Skipped], None]) -> list[SeriesPlan]:
    """The volumes of one series; a volume whose grid would misplace slices is refused (an entry to ``skip``)."""
    if not _has_geometry(frames) and any(f.position is not None and f.orientation is not None for f in frames):
        # a nominal grid for all would throw away where the others lie; those without a place are left out
        for frame in frames:
            if frame.position is None or frame.orientation is None:
                skip(Skipped(frame.path, f"{frame.label} has no ImagePositionPatient/ImageOrientationPatient while "
                             "the rest of its series has them; left out"))
        frames = [f for f in frames if f.position is not None and f.orientation is not None]
    stacks = _stacks(frames)
    plans: list[SeriesPlan] = []
    for _key, members in stacks:
        for timepoints, warnings in _volumes_of_stack(members):
            diffusion = _diffusion(timepoints, warnings)
            try:
                plan = _plan_volume(series_uid, timepoints, warnings)
            except DicomError as exc:
                skip(Skipped.of(exc))
                continue
            plan.diffusion = diffusion
            if members[0].kind:
                plan.description = f"{plan.description} {kind_name(members[0].kind)}"
            plans.append(plan)
    if len(plans) > 1:
        keys = [k for k, _ in stacks]
        differ = [name for n, name in enumerate(_STACK_FIELDS) if any(not _same(k[n], keys[0][n]) for k in keys)]
        if len(stacks) < len(plans):
            differ.append("echo, temporal position or acquisition at overlapping positions")
        for n, plan in enumerate(plans):
            plan.description = f"{plan.description} (part {n + 1} of {len(plans)})".strip()
            plan.warnings.insert(0, f"series split into {len(plans)} volumes: they differ in {', '.join(differ)}")
    return plans


KIND_NAMES = {"M": "magnitude", "P": "phase", "R": "real", "I": "imaginary", "FIELD_MAP": "fieldmap_hz"}
"""How a volume of one kind of a multi-kind object is named (descriptions, file names)."""


def kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind.lower())


def _diffusion(timepoints: list[list[Frame]],
               warnings: list[str]) -> list[tuple[float, tuple[float, float, float]]] | None:
    """The b-value and gradient of each time point of a diffusion series, or None for any other series.

    In a Philips series a time point with b > 0 and no gradient direction is
    the scanner's derived isotropic (trace) image, not a measurement: it is
    removed from ``timepoints`` (in place) with a notice, as dcm2niix does,
    because fitting tools would take it for a direction. (UIH, for one, gives
    its b=0 image a small b > 0: that one stays.)
    """
    table = [diffusion_of(frames[0]) for frames in timepoints]
    if len(table) < 2 or any(d is None for d in table) or not any(b > 0 for b, _ in table):
        return None
    philips = timepoints[0][0].header.manufacturer.upper().startswith("PHILIPS")
    derived = [t for t, (b, g) in enumerate(table) if philips and b > 0 and not any(g)]
    for t in reversed(derived):
        del timepoints[t], table[t]
    if derived:
        warnings.append(f"left out the derived isotropic (trace) image{'s' if len(derived) > 1 else ''} "
                        f"(time point{'s' if len(derived) > 1 else ''} {', '.join(str(t + 1) for t in derived)}: "
                        "b > 0 without a gradient direction), as dcm2niix does")
    return table


def _projection(frame: Frame) -> float:
    """Position along the slice normal (row x column); plain Python, as it runs for every image."""
    (a, b, c, d, e, f), (x, y, z) = frame.orientation, frame.position
    n = (b * f - c * e, c * d - a * f, a * e - b * d)
    return (x * n[0] + y * n[1] + z * n[2]) / math.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])


def _has_geometry(frames: list[Frame]) -> bool:
    return all(f.position is not None and f.orientation is not None for f in frames)


def _volumes_of_stack(frames: list[Frame]) -> list[tuple[list[list[Frame]], list[str]]]:
    """Split one stack into volumes; each volume is a list of time points, each a list of frames.

    Frames with different volume keys (echo, time, acquisition) become time
    points when they cover the same positions, one volume when their positions
    do not overlap (per-slice acquisition numbers), separate volumes otherwise.
    Repeats of one key at one position become time points when every position
    repeats equally often.
    """
    groups: dict[tuple, list[Frame]] = defaultdict(list)
    for frame in frames:
        groups[frame.volume_key].append(frame)
    keys = sorted(groups)
    if not _has_geometry(frames):
        sizes = {len(groups[k]) for k in keys}
        ordered = [sorted(groups[k], key=lambda f: f.order_key) for k in keys]
        if len(sizes) == 1:
            return [(ordered, [])]
        return [([g], []) for g in ordered]
    if len(keys) > 1:
        places = [_places(groups[k]) for k in keys]
        if all(len(p) == len(places[0]) and len(p) == len(groups[k]) for p, k in zip(places, keys, strict=True)) \
                and all(np.allclose(p, places[0], atol=POSITION_TOLERANCE_MM, rtol=0) for p in places):
            return [([_by_position(groups[k]) for k in keys], [])]
        if len(_places(frames)) == len(frames):
            return _repeats(frames)
        return [v for k in keys for v in _repeats(groups[k])]
    return _repeats(frames)


def _places(frames: list[Frame]) -> list[float]:
    """Distinct positions along the normal (clustered within the tolerance), ascending."""
    out: list[float] = []
    for p in sorted(_projection(f) for f in frames):
        if not out or p - out[-1] > POSITION_TOLERANCE_MM:
            out.append(p)
    return out


def _by_position(frames: list[Frame]) -> list[Frame]:
    return sorted(frames, key=lambda f: (_projection(f), f.order_key))


def _repeats(frames: list[Frame]) -> list[tuple[list[list[Frame]], list[str]]]:
    """One volume; positions repeated equally often become time points in acquisition order."""
    clusters: list[list[Frame]] = []
    for frame in _by_position(frames):
        if clusters and _projection(frame) - _projection(clusters[-1][0]) <= POSITION_TOLERANCE_MM:
            clusters[-1].append(frame)
        else:
            clusters.append([frame])
    for cluster in clusters:
        cluster.sort(key=lambda f: f.order_key)
    counts = {len(c) for c in clusters}
    if len(counts) == 1:
        return [([[c[t] for c in clusters] for t in range(counts.pop())], [])]
    dropped = [f.label for c in clusters for f in c[1:]]
    warning = (f"{len(dropped)} image(s) repeat a position that other positions do not repeat; "
               f"kept the first acquired at each position, left out {_names(dropped)}")
    return [([[c[0] for c in clusters]], [warning])]


# -- the grid ----------------------------------------------------------------------------------------------------

def _plan_volume(series_uid: str, timepoints: list[list[Frame]], warnings: list[str]) -> SeriesPlan:
    first = timepoints[0]
    reference = first[0].header
    grid_warnings: list[str] = []
    column, row = _pixel_spacing(first[0], grid_warnings)
    if _has_geometry(first):
        slots, step, origin, direction = _grid(first, grid_warnings)
    else:
        slots, step, origin, direction = list(range(len(first))), _slice_step(first[0]), np.zeros(3), np.eye(3)
        grid_warnings.append("no ImagePositionPatient/ImageOrientationPatient: nominal geometry (origin 0, identity "
                             "direction); the volume is not placed in the patient")
    spacing = np.array([column, row, step], dtype=np.float64)
    nk = slots[-1] + 1 if slots else 0
    ordered: list[Frame | None] = []
    for frames in timepoints:
        column: list[Frame | None] = [None] * nk
        for slot, frame in zip(slots, frames, strict=True):
            column[slot] = frame
        ordered.extend(column)
    return SeriesPlan(series_uid=series_uid, reference=reference, frames=ordered, timepoints=len(timepoints),
                      slices=nk, spacing=spacing, origin=origin, direction=direction,
                      description=reference.series_description, warnings=warnings + grid_warnings)


def _pixel_spacing(frame: Frame, warnings: list[str]) -> tuple[float, float]:
    """(i, j) spacing: DICOM's PixelSpacing is (between rows, between columns), so it is swapped here."""
    if frame.pixel_spacing is None:
        warnings.append(f"{frame.extra.get('spacing_problem', 'no PixelSpacing')}: 1 mm pixels assumed")
        return 1.0, 1.0
    return frame.pixel_spacing[1], frame.pixel_spacing[0]


def _slice_step(frame: Frame) -> float:
    """Spacing of a single slice (nothing to measure it from): SpacingBetweenSlices, SliceThickness, or 1 mm."""
    for value in (frame.header.spacing_between_slices, frame.slice_thickness):
        if value is not None and math.isfinite(value) and value > 0:
            return float(value)
    return 1.0


def _grid(frames: list[Frame], warnings: list[str]) -> tuple[list[int], float, np.ndarray, np.ndarray]:
    """Slot of each frame, slice spacing, origin and direction of frames sorted along the normal."""
    orientation = np.asarray(frames[0].orientation, dtype=np.float64)
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    positions = np.array([f.position for f in frames], dtype=np.float64)
    origin = positions[0].copy()
    if len(frames) == 1:
        return [0], _slice_step(frames[0]), origin, np.column_stack([row, col, normal])
    span = positions[-1] - positions[0]
    along = float(span @ normal)
    drift = float(np.linalg.norm(span - along * normal))
    axis = normal if drift <= DRIFT_TOLERANCE_MM else span / np.linalg.norm(span)
    tilt = math.degrees(math.atan2(drift, along))
    if tilt > TILT_WARNING_DEGREES:
        stated = frames[0].header.gantry_tilt
        warnings.append(
            f"gantry tilt {tilt:.2f} degrees (slices shift {drift:.2f} mm sideways from {frames[0].label} to "
            f"{frames[-1].label}{f'; header says {stated:g}' if stated else ''}): the grid is kept sheared, "
            "not resampled")
    offsets = (positions - origin) @ axis
    off_line = np.linalg.norm((positions - origin) - np.outer(offsets, axis), axis=1)
    if off_line.max() > POSITION_TOLERANCE_MM:
        worst = int(off_line.argmax())
        message = (f"slice positions do not lie on a line: {frames[worst].label} is {off_line[worst]:.3f} mm "
                   "off the line from the first to the last slice")
        pixel = min(frames[0].pixel_spacing or (1.0, 1.0))
        if off_line[worst] > pixel / 2:
            raise DicomError(f"{message}, more than half a pixel; no grid holds these slices", frames[worst].path)
        warnings.append(message)
    slots, step, spacing_warnings = _slots(offsets, frames)
    warnings.extend(spacing_warnings)
    return slots, step, origin, np.column_stack([row, col, axis])


def _slots(offsets: np.ndarray, frames: list[Frame]) -> tuple[list[int], float, list[str]]:
    """Grid index of each slice and the slice spacing; gaps of whole slices become empty slots."""
    steps = np.diff(offsets)
    typical = float(np.sort(steps)[len(steps) // 2])  # the median step (np.median is slow to start)
    ratios = steps / typical
    gaps = np.flatnonzero(ratios > 1.5)
    missing = int(np.sum(np.rint(ratios[gaps]) - 1))
    # Fill whole missing slices, unless the grid would be mostly empty (a sample of a series, not a gap).
    if len(gaps) and np.all(np.abs(ratios - np.rint(ratios)) < 0.2) and missing <= len(offsets):
        count = int(round(offsets[-1] / typical)) + 1
        step = float(offsets[-1] / (count - 1))
        slots = [int(v) for v in np.rint(offsets / step)]
        warnings = [f"{int(round(ratios[g])) - 1} missing slice(s) between {frames[g].label} and "
                    f"{frames[g + 1].label}: gap {steps[g]:.4g} mm where slices are {typical:.4g} mm apart; "
                    "filled with the volume's lowest value" for g in gaps]
        return slots, step, warnings
    step = float(offsets[-1] / (len(offsets) - 1))
    misplaced = np.abs(offsets - step * np.arange(len(offsets)))
    warnings = []
    if misplaced.max() > max(SPACING_WARNING_MM, 1e-3 * step):
        worst = int(np.abs(steps - step).argmax())
        message = (
            f"non-uniform slice spacing: steps {steps.min():.4g} to {steps.max():.4g} mm, mean {step:.4g} mm; "
            f"largest step {steps[worst]:.4g} mm between {frames[worst].label} and {frames[worst + 1].label}; "
            f"on the uniform grid a slice is misplaced by up to {misplaced.max():.3g} mm")
        if misplaced.max() > step / 2:  # a slice would show in its neighbour's place: not a volume
            raise DicomError(f"{message}, more than half a slice; no uniform grid holds these slices",
                             frames[int(misplaced.argmax())].path)
        warnings.append(message)
    return list(range(len(offsets))), step, warnings


def _names(labels: list[str], limit: int = 5) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _fmt(values: tuple[float, ...]) -> str:
    return "\\".join(f"{v:g}" for v in values)
