"""Affines, LPS/RAS, orientation labels and reslice-plane maths.

Everything inside the program is in LPS millimetres (the DICOM and ITK
patient frame): +x towards the patient's Left, +y Posterior, +z Superior.
RAS appears only at file boundaries (NIfTI) and in transform JSON that names
it. An affine maps a voxel index ``(i, j, k, 1)`` (column, row, slice) to the
centre of that voxel in LPS mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
"""Flip x and y; its own inverse, so it also maps RAS to LPS."""

# Letters for the positive and negative direction of each LPS axis.
_POSITIVE = "LPS"
_NEGATIVE = "RAI"


def affine_from(spacing: np.ndarray | list[float], origin: np.ndarray | list[float],
                direction: np.ndarray | list[float]) -> np.ndarray:
    """4x4 index-to-LPS affine from ITK-style spacing, origin and direction.

    ``direction`` is 3x3 (or 9 numbers, row-major as SimpleITK's
    ``GetDirection``) whose columns are the unit axes i, j, k in LPS.
    """
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = d * np.asarray(spacing, dtype=np.float64)[None, :]
    affine[:3, 3] = np.asarray(origin, dtype=np.float64)
    return affine


def decompose(affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split an affine into ITK-style (spacing, origin, direction 3x3)."""
    a = np.asarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(a[:3, :3], axis=0)
    if np.any(spacing <= 0) or not np.all(np.isfinite(a)):
        raise ValueError("affine has a zero-length or non-finite axis")
    return spacing, a[:3, 3].copy(), a[:3, :3] / spacing[None, :]


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (..., 3) through a 4x4 affine."""
    p = np.asarray(points, dtype=np.float64)
    return p @ affine[:3, :3].T + affine[:3, 3]


def lps_to_ras(affine: np.ndarray) -> np.ndarray:
    """An index-to-LPS affine as index-to-RAS (what NIfTI stores)."""
    return LPS_TO_RAS @ np.asarray(affine, dtype=np.float64)


def ras_to_lps(affine: np.ndarray) -> np.ndarray:
    """An index-to-RAS affine (NIfTI's) as index-to-LPS."""
    return LPS_TO_RAS @ np.asarray(affine, dtype=np.float64)


def orientation_label(vector: np.ndarray | list[float], oblique_tolerance: float = 0.1) -> str:
    """Patient-direction letters for an LPS vector, most dominant first.

    ``[1, 0, 0]`` is ``"L"``; ``[0.7, -0.7, 0]`` is ``"LA"``. Components
    smaller than ``oblique_tolerance`` times the largest are left out, as
    radiology viewers do, so a slightly tilted axis still reads ``"L"``.
    """
    v = np.asarray(vector, dtype=np.float64)
    norm = np.max(np.abs(v))
    if norm == 0:
        return ""
    order = np.argsort(-np.abs(v), kind="stable")
    letters = []
    for axis in order:
        if abs(v[axis]) >= oblique_tolerance * norm:
            letters.append(_POSITIVE[axis] if v[axis] > 0 else _NEGATIVE[axis])
    return "".join(letters)


def axis_codes(affine: np.ndarray) -> str:
    """Three letters naming where i, j, k point, e.g. ``"LPS"`` for a plain axial stack."""
    return "".join(orientation_label(affine[:3, c], oblique_tolerance=1.0) for c in range(3))


def cross3(a, b) -> np.ndarray:
    """``np.cross`` of two 3-vectors, written out: a fifth of the time of the general one (views ask per slice)."""
    (ax, ay, az), (bx, by, bz) = map(float, a), map(float, b)
    return np.array([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx])


@dataclass(frozen=True)
class Plane:
    """A display plane in LPS: a centre and two in-plane unit axes.

    ``right`` points to the screen's right, ``down`` to the screen's bottom,
    so ``normal = right x down`` points away from the viewer.
    """

    center: tuple[float, float, float]
    right: tuple[float, float, float]
    down: tuple[float, float, float]

    @cached_property
    def normal(self) -> np.ndarray:
        """Unit ``right x down``; computed once per plane (a slice step asks for it dozens of times), read-only."""
        n = cross3(self.right, self.down)
        n = n / np.linalg.norm(n)
        n.flags.writeable = False
        return n

    def to_world(self, u: float, v: float) -> np.ndarray:
        """LPS point at screen offsets ``u`` (right) and ``v`` (down) mm from the centre."""
        return np.asarray(self.center) + u * np.asarray(self.right) + v * np.asarray(self.down)

    def to_plane(self, point: np.ndarray | list[float]) -> tuple[float, float, float]:
        """(right, down, depth) offsets in mm of an LPS point from the centre."""
        d = np.asarray(point, dtype=np.float64) - np.asarray(self.center)
        return float(d @ self.right), float(d @ self.down), float(d @ self.normal)

    def matrix(self) -> np.ndarray:
        """4x4 whose columns are right, down, normal and the centre: plane-to-LPS."""
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2] = self.right, self.down, self.normal
        m[:3, 3] = self.center
        return m

    def moved(self, center: np.ndarray | list[float]) -> Plane:
        return Plane(tuple(map(float, center)), self.right, self.down)

    def rotated(self, rotation: np.ndarray) -> Plane:
        """The plane with its axes turned by a 3x3 LPS rotation about its centre."""
        r = np.asarray(rotation, dtype=np.float64)
        return Plane(self.center, tuple(r @ self.right), tuple(r @ self.down))

    def edge_labels(self) -> dict[str, str]:
        """Orientation letters at the left, right, top and bottom screen edges."""
        right, down = np.asarray(self.right), np.asarray(self.down)
        return {"left": orientation_label(-right), "right": orientation_label(right),
                "top": orientation_label(-down), "bottom": orientation_label(down)}


# Radiological convention: axial seen from the feet, coronal from the front,
# sagittal from the patient's left; so patient right is on screen left.
STANDARD_AXES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}


def standard_plane(name: str, center: np.ndarray | list[float]) -> Plane:
    """The axial, coronal or sagittal patient plane through ``center`` (LPS mm)."""
    right, down = STANDARD_AXES[name]
    return Plane(tuple(map(float, center)), right, down)


def rotation_matrix(axis: np.ndarray | list[float], degrees: float) -> np.ndarray:
    """3x3 rotation by ``degrees`` about ``axis`` (right-handed, Rodrigues)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    t = np.deg2rad(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)


def bounds(affine: np.ndarray, shape_kji: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """LPS bounding box (min corner, max corner) of the voxel centres of a grid."""
    k, j, i = shape_kji[-3:]
    corners = np.array([[a, b, c] for a in (0, i - 1) for b in (0, j - 1) for c in (0, k - 1)], dtype=np.float64)
    world = apply(affine, corners)
    return world.min(axis=0), world.max(axis=0)


def spacing_along(affine: np.ndarray, direction: np.ndarray | tuple[float, ...]) -> float:
    """Millimetres per voxel step along a unit LPS direction.

    Along a grid axis this is that axis' spacing; along an oblique direction it
    is the distance over which the continuous index moves by one, which keeps
    sampling at the grid's own resolution.
    """
    steps = np.linalg.solve(np.asarray(affine, dtype=np.float64)[:3, :3], np.asarray(direction, dtype=np.float64))
    return float(1.0 / np.linalg.norm(steps))
