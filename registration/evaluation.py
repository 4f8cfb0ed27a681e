"""How good is a registration: TRE from paired landmarks, Dice of label maps, MI and NCC before and after.

Also the yardstick the benchmarks use to compare two transforms: how far
apart they send the same points inside the body, which is what matters to a
reader of the fused images (rotation errors grow with distance from the
centre, so a parameter difference alone says little).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from registration.masks import BODY_MASK_SPACING_MM, body_mask, body_threshold
from registration.pyramid import Pyramid
from registration.resample import resample_to
from workstation.errors import RegistrationError
from workstation.volume import Volume


def transform_points(transform: sitk.Transform | np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map LPS points (N x 3) through an ITK transform or a 4x4 matrix."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if isinstance(transform, np.ndarray):
        return p @ transform[:3, :3].T + transform[:3, 3]
    return np.array([transform.TransformPoint(tuple(float(c) for c in q)) for q in p]).reshape(-1, 3)


@dataclass
class Distances:
    """Summary of point-to-point distances in mm."""

    mean: float
    max: float
    median: float

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray) -> Distances:
        d = np.linalg.norm(np.asarray(a) - np.asarray(b), axis=1)
        if d.size == 0:
            raise RegistrationError("no points to compare")
        return cls(float(d.mean()), float(d.max()), float(np.median(d)))


def tre(transform: sitk.Transform | np.ndarray, fixed_points: np.ndarray, moving_points: np.ndarray) -> Distances:
    """Target registration error: where the transform sends each fixed landmark vs where its pair really is."""
    f = np.asarray(fixed_points, dtype=np.float64).reshape(-1, 3)
    m = np.asarray(moving_points, dtype=np.float64).reshape(-1, 3)
    if f.shape != m.shape:
        raise RegistrationError(f"{len(f)} fixed landmarks but {len(m)} moving ones: they must pair up")
    return Distances.of(transform_points(transform, f), m)


def disagreement(a: sitk.Transform | np.ndarray, b: sitk.Transform | np.ndarray, points: np.ndarray) -> Distances:
    """How far apart two fixed->moving transforms send the same fixed-space points."""
    return Distances.of(transform_points(a, points), transform_points(b, points))


def body_points(volume: Volume, spacing_mm: float = BODY_MASK_SPACING_MM) -> np.ndarray:
    """LPS centres of the voxels of a volume's body mask on a ``spacing_mm`` grid (N x 3)."""
    image = Pyramid(volume).image(spacing_mm)
    mask = body_mask(image, body_threshold(image, volume.meta.modality))
    k, j, i = np.nonzero(sitk.GetArrayViewFromImage(mask))
    affine = np.asarray(mask.GetDirection()).reshape(3, 3) * np.asarray(mask.GetSpacing())[None, :]
    return np.stack([i, j, k], axis=1) @ affine.T + np.asarray(mask.GetOrigin())


def dice(a: Volume, b: Volume, labels: list[int] | None = None) -> dict[int, float]:
    """Dice overlap per label of two label maps on the same grid (``b`` is resampled onto ``a`` otherwise)."""
    if a.array.shape != b.array.shape or not np.allclose(a.affine, b.affine):
        b = resample_to(a, b, sitk.Transform(), interpolator=sitk.sitkNearestNeighbor)
    x, y = np.asarray(a.array), np.asarray(b.array)
    if labels is None:
        labels = sorted(int(v) for v in np.union1d(np.unique(x), np.unique(y)) if v != 0)
    out = {}
    for label in labels:
        ax, ay = x == label, y == label
        total = int(ax.sum()) + int(ay.sum())
        out[label] = 2.0 * int(np.logical_and(ax, ay).sum()) / total if total else float("nan")
    return out


def _overlap(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise RegistrationError(f"images differ in shape {a.shape} vs {b.shape}; resample first")
    keep = np.ones(a.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    return np.asarray(a, dtype=np.float64)[keep], np.asarray(b, dtype=np.float64)[keep]


def ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Normalised cross-correlation in [-1, 1] of two arrays on the same grid (within ``mask``)."""
    x, y = _overlap(a, b, mask)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else 0.0


def mutual_information(a: np.ndarray, b: np.ndarray, bins: int = 32, mask: np.ndarray | None = None) -> float:
    """Mutual information in nats from a joint histogram of two arrays on the same grid (within ``mask``)."""
    x, y = _overlap(a, b, mask)
    joint, _, _ = np.histogram2d(x, y, bins=bins)
    p = joint / joint.sum()
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (px @ py)[nz])).sum())


@dataclass
class Similarity:
    """MI and NCC of the fixed image with the moving one before and after registration."""

    mi_before: float
    mi_after: float
    ncc_before: float
    ncc_after: float


def before_after(fixed: Volume, moving: Volume, transform: sitk.Transform, bins: int = 32,
                 mask: np.ndarray | None = None) -> Similarity:
    """MI and NCC on the fixed grid, moving image placed by the scanner (before) and by ``transform`` (after)."""
    before = resample_to(fixed, moving, sitk.Transform()).array
    after = resample_to(fixed, moving, transform).array
    return Similarity(mutual_information(fixed.array, before, bins, mask),
                      mutual_information(fixed.array, after, bins, mask),
                      ncc(fixed.array, before, mask), ncc(fixed.array, after, mask))
