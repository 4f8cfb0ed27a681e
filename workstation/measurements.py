"""Measurements on a series: ruler, angle, ellipse and rectangle ROI, as plain data and maths.

Why apart from the views: the library saves them with the series, the app
exports them as CSV and as a DICOM SR, and the numbers must be testable
without a window. Points are LPS mm, so a measurement survives zoom, pan and
layout changes and reads the same in any viewer of that frame of reference.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workstation.geometry import Plane, spacing_along
from workstation.volume import Volume

KINDS = ("ruler", "angle", "ellipse", "rectangle")
POINT_COUNT = {"ruler": 2, "angle": 3, "ellipse": 2, "rectangle": 2}
"""Ruler: two ends; angle: arm end, vertex, arm end; ROIs: two opposite corners of the bounding box in the plane."""


@dataclass
class Measurement:
    """One measurement drawn on a display plane of one series."""

    kind: str
    points: np.ndarray
    plane: Plane
    series_uid: str = ""
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown measurement kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        self.points = np.asarray(self.points, dtype=np.float64).reshape(-1, 3)
        if len(self.points) != POINT_COUNT[self.kind]:
            raise ValueError(f"a {self.kind} needs {POINT_COUNT[self.kind]} points, got {len(self.points)}")

    def plane_points(self) -> np.ndarray:
        """(n, 2) screen-plane (right, down) mm of the points, relative to the plane centre."""
        rel = self.points - np.asarray(self.plane.center)
        return np.stack([rel @ np.asarray(self.plane.right), rel @ np.asarray(self.plane.down)], axis=1)

    def moved_point(self, index: int, lps: np.ndarray) -> Measurement:
        """A copy with one point (handle) moved, same uid: how an edit is made."""
        points = self.points.copy()
        points[index] = lps
        return Measurement(self.kind, points, self.plane, self.series_uid, self.uid, self.label)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (plain lists and strings) for the library and exports."""
        return {"uid": self.uid, "kind": self.kind, "series_uid": self.series_uid, "label": self.label,
                "points": self.points.tolist(),
                "plane": {"center": list(self.plane.center), "right": list(self.plane.right),
                          "down": list(self.plane.down)}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        p = data["plane"]
        plane = Plane(tuple(map(float, p["center"])), tuple(map(float, p["right"])), tuple(map(float, p["down"])))
        return cls(data["kind"], np.asarray(data["points"], dtype=np.float64), plane, data.get("series_uid", ""),
                   data["uid"], data.get("label", ""))


def length_mm(m: Measurement) -> float:
    """Distance between the two ends of a ruler, in mm."""
    return float(np.linalg.norm(m.points[1] - m.points[0]))


def angle_degrees(m: Measurement) -> float:
    """Angle at the vertex (second point) between the two arms, 0..180 degrees."""
    a, b = m.points[0] - m.points[1], m.points[2] - m.points[1]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))))


def roi_area_mm2(m: Measurement) -> float:
    """Exact area of the ROI shape (not of the voxels counted)."""
    (u0, v0), (u1, v1) = m.plane_points()
    w, h = abs(u1 - u0), abs(v1 - v0)
    return float(w * h if m.kind == "rectangle" else np.pi * w * h / 4)


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the voxel values inside an ROI, in the volume's units; ``count`` voxels sampled."""

    mean: float
    sd: float
    min: float
    max: float
    area_mm2: float
    count: int
    units: str


def _roi_samples(m: Measurement, volume: Volume) -> np.ndarray:
    """(n, 3) LPS sample points inside the ROI, one per voxel of an aligned plane.

    The sample lattice is laid out from the projection of voxel (0, 0, 0), at
    the grid's spacing along right and down: in a plane parallel to the grid
    each sample is one voxel centre, so counts and statistics are the voxels'.
    """
    plane = m.plane
    right, down = np.asarray(plane.right), np.asarray(plane.down)
    (u0, v0), (u1, v1) = m.plane_points()
    umin, umax, vmin, vmax = min(u0, u1), max(u0, u1), min(v0, v1), max(v0, v1)
    su, sv = spacing_along(volume.affine, right), spacing_along(volume.affine, down)
    ref = volume.index_to_world([0.0, 0.0, 0.0]) - np.asarray(plane.center)
    ur, vr = ref @ right, ref @ down
    eps = 1e-6
    us = ur + su * np.arange(np.ceil((umin - ur) / su - eps), np.floor((umax - ur) / su + eps) + 1)
    vs = vr + sv * np.arange(np.ceil((vmin - vr) / sv - eps), np.floor((vmax - vr) / sv + eps) + 1)
    uu, vv = np.meshgrid(us, vs, indexing="xy")
    uu, vv = uu.ravel(), vv.ravel()
    if m.kind == "ellipse":
        cu, cv = (umin + umax) / 2, (vmin + vmax) / 2
        a, b = max((umax - umin) / 2, eps), max((vmax - vmin) / 2, eps)
        inside = ((uu - cu) / a) ** 2 + ((vv - cv) / b) ** 2 <= 1.0 + eps
        uu, vv = uu[inside], vv[inside]
    depth = (m.points[0] - np.asarray(plane.center)) @ plane.normal
    return np.asarray(plane.center) + depth * plane.normal + uu[:, None] * right + vv[:, None] * down


def roi_stats(m: Measurement, volume: Volume, t: int = 0) -> RoiStats:
    """Mean, SD, min, max of the voxels (nearest neighbour) whose samples fall inside an ellipse or rectangle."""
    if m.kind not in ("ellipse", "rectangle"):
        raise ValueError(f"a {m.kind} has no region statistics")
    points = _roi_samples(m, volume)
    ijk = np.rint(volume.world_to_index(points)).astype(np.int64)
    ni, nj, nk = volume.shape_ijk
    ok = np.all((ijk >= 0) & (ijk < [ni, nj, nk]), axis=1)
    ijk = ijk[ok]
    frame = volume.array[t] if volume.array.ndim == 4 else volume.array
    values = frame[ijk[:, 2], ijk[:, 1], ijk[:, 0]].astype(np.float64)
    area = roi_area_mm2(m)
    if values.size == 0:
        nan = float("nan")
        return RoiStats(nan, nan, nan, nan, area, 0, volume.meta.units)
    return RoiStats(float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0,
                    float(values.min()), float(values.max()), area, int(values.size), volume.meta.units)


def values(m: Measurement, volume: Volume | None = None) -> dict[str, tuple[float, str]]:
    """Every number a measurement yields, name -> (value, unit): what the list, CSV and SR show."""
    if m.kind == "ruler":
        return {"length": (length_mm(m), "mm")}
    if m.kind == "angle":
        return {"angle": (angle_degrees(m), "deg")}
    if volume is None:
        return {"area": (roi_area_mm2(m), "mm2")}
    s = roi_stats(m, volume)
    return {"area": (s.area_mm2, "mm2"), "mean": (s.mean, s.units), "sd": (s.sd, s.units),
            "min": (s.min, s.units), "max": (s.max, s.units)}


def describe(m: Measurement, volume: Volume | None = None) -> str:
    """A one-line label for the view and the list, e.g. ``"42.1 mm"`` or ``"mean 38.2 HU, SD 4.1, ..."``."""
    v = values(m, volume)
    if m.kind == "ruler":
        return f"{v['length'][0]:.1f} mm"
    if m.kind == "angle":
        return f"{v['angle'][0]:.1f}\N{DEGREE SIGN}"
    area = f"area {v['area'][0] / 100:.2f} cm\N{SUPERSCRIPT TWO}"
    if "mean" not in v:
        return area
    unit = v["mean"][1]
    unit = f" {unit}" if unit else ""
    return (f"mean {v['mean'][0]:.1f}{unit}, SD {v['sd'][0]:.1f}, min {v['min'][0]:.0f}, "
            f"max {v['max'][0]:.0f}, {area}")
