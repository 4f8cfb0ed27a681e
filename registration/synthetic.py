"""Cases with a known answer made from real images: crops, second contrasts, known misplacements and warps.

Real pairs rarely come with the true transform; these do, because the truth
is what was done to the image. A crop resampled onto a 1 mm axis-aligned grid
gives the small fields of view that break whole-body presets; a second
contrast (intensities inverted or remapped through a non-monotonic curve)
makes mutual information necessary; a known rigid misplacement of the
moving image's placement, or a seeded smooth B-spline warp, is the truth the
registration must recover. Every truth maps fixed-space points to
moving-space points (ITK's convention), in LPS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from workstation.errors import RegistrationError
from workstation.volume import Volume, VolumeMeta


def crop(volume: Volume, centre_lps: np.ndarray | list[float], size_mm: tuple[float, float, float],
         spacing_mm: float = 1.0, description: str = "") -> Volume:
    """The box of ``size_mm`` (LPS axes) about ``centre_lps`` resampled on an axis-aligned ``spacing_mm`` grid.

    Linear interpolation; the result has no frame of reference UID, like a
    NIfTI file a researcher cut out.
    """
    size = [max(1, int(round(s / spacing_mm))) for s in size_mm]
    origin = np.asarray(centre_lps, dtype=np.float64) - (np.asarray(size) - 1) / 2 * spacing_mm
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetSpacing([float(spacing_mm)] * 3)
    reference.SetOrigin([float(v) for v in origin])
    source = volume.to_sitk()
    image = sitk.Resample(source, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    meta = VolumeMeta(modality=volume.meta.modality, description=description or "crop")
    return Volume.from_sitk(image, meta)


def second_contrast(volume: Volume, kind: str) -> Volume:
    """The same anatomy in another contrast: ``inverted`` (bright becomes dark) or ``remapped``.

    ``remapped`` sends the normalised intensity ``n`` to ``sin(1.5 pi n)``
    scaled to 0..1000: non-monotonic, so neither correlation nor a linear fit
    of intensities can match the two, only their joint histogram can.
    """
    a = np.asarray(volume.array, dtype=np.float32)
    lo, hi = float(np.percentile(a, 1)), float(np.percentile(a, 99.5))
    n = np.clip((a - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    if kind == "inverted":
        out = 1.0 - n
    elif kind == "remapped":
        out = 0.5 * (np.sin(1.5 * np.pi * n) + 1.0)
    else:
        raise RegistrationError(f"unknown contrast {kind!r}; use inverted or remapped")
    meta = VolumeMeta(modality=volume.meta.modality, description=f"{volume.meta.description} {kind}")
    return Volume(np.ascontiguousarray(out * 1000.0, dtype=np.float32), volume.affine.copy(), meta,
                  itk_parts=volume.itk_parts)


def rigid_matrix(rotation_deg: float, axis: np.ndarray | list[float], shift_mm: np.ndarray | list[float],
                 centre: np.ndarray | list[float]) -> np.ndarray:
    """4x4 LPS: turn by ``rotation_deg`` about ``axis`` through ``centre``, then shift by ``shift_mm``."""
    u = np.asarray(axis, dtype=np.float64)
    u = u / np.linalg.norm(u)
    angle = np.radians(rotation_deg)
    k = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    r = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    m = np.eye(4)
    m[:3, :3] = r
    c = np.asarray(centre, dtype=np.float64)
    m[:3, 3] = c - r @ c + np.asarray(shift_mm, dtype=np.float64)
    return m


def misplace(volume: Volume, truth: np.ndarray) -> Volume:
    """``volume`` with its placement changed so that fixed point ``x`` (where it was) now lies at ``truth @ x``.

    Only the affine changes; the voxels are the same. Registering the
    original (fixed) and the result (moving) must give ``truth``.
    """
    affine = np.asarray(truth, dtype=np.float64) @ volume.affine
    return Volume(volume.array, affine, volume.meta)


@dataclass
class KnownWarp:
    """A deformed image and the exact map from its points to the source image's (fixed -> moving)."""

    warped: Volume
    truth: sitk.Transform
    bspline: sitk.BSplineTransform
    rigid: np.ndarray


def smooth_warp(volume: Volume, seed: int, grid_spacing_mm: float = 60.0, mean_mm: float = 4.0,
                rigid: np.ndarray | None = None, inside: np.ndarray | None = None) -> KnownWarp:
    """Warp ``volume`` by a seeded cubic B-spline field (then a rigid motion): the warped image is the fixed one.

    Warped image at ``x`` = source at ``rigid(x + d(x))``, so the truth for
    registering the warped image (fixed) to the source (moving) is that map,
    known at every point. Coefficients are Gaussian, scaled so the
    displacements at ``inside`` points (default: the grid's voxel centres,
    subsampled) average ``mean_mm``.
    """
    image = volume.to_sitk()
    extent = np.asarray(image.GetSize()) * np.asarray(image.GetSpacing())
    mesh = [max(1, int(round(e / grid_spacing_mm))) for e in extent]
    bspline = sitk.BSplineTransformInitializer(image, mesh, 3)
    rng = np.random.default_rng(seed)
    coefficients = rng.normal(size=len(bspline.GetParameters()))
    bspline.SetParameters(tuple(float(c) for c in coefficients))
    points = inside if inside is not None else _grid_points(volume, 4000, rng)
    mean = float(np.mean([np.linalg.norm(np.subtract(bspline.TransformPoint(tuple(p)), p)) for p in points]))
    bspline.SetParameters(tuple(float(c) for c in coefficients * (mean_mm / mean)))
    rigid = np.eye(4) if rigid is None else np.asarray(rigid, dtype=np.float64)
    linear = sitk.AffineTransform(3)
    linear.SetMatrix(tuple(rigid[:3, :3].ravel()))
    linear.SetTranslation(tuple(rigid[:3, 3]))
    truth = sitk.CompositeTransform([linear, bspline])  # the last added acts first: d, then the rigid motion
    background = float(np.min(volume.array))
    warped = sitk.Resample(image, image, truth, sitk.sitkLinear, background, sitk.sitkFloat32)
    meta = VolumeMeta(modality=volume.meta.modality, description=f"{volume.meta.description} warped")
    return KnownWarp(Volume.from_sitk(warped, meta), truth, bspline, rigid)


def _grid_points(volume: Volume, count: int, rng: np.random.Generator) -> np.ndarray:
    ni, nj, nk = volume.shape_ijk
    ijk = rng.uniform([0, 0, 0], [ni - 1, nj - 1, nk - 1], size=(count, 3))
    return volume.index_to_world(ijk)
