"""Masks that decide where the metric looks: the body (or phantom) by default, or the caller's own.

Air is half of most scans and the scanner table is in the CT but not the MR:
left in, they give the metric optima that line up tables and
field-of-view edges instead of anatomy. The body mask is computed at low
resolution (a few mm), where thresholding, the largest connected component
and hole filling cost a fraction of a second.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from workstation.errors import RegistrationError
from workstation.volume import Volume

BODY_MASK_SPACING_MM = 4.0
"""Resolution at which body masks are computed; fine enough for a metric's sampling region."""

CT_BODY_THRESHOLD_HU = -400.0
"""Soft tissue and plastics are above this; air (-1000) and lung-like foam mostly below."""


def _radius(image: sitk.Image, mm: float) -> list[int]:
    return [max(1, int(round(mm / s))) for s in image.GetSpacing()]


def body_threshold(image: sitk.Image, modality: str = "") -> float:
    """Intensity above which a voxel counts as body: a fixed HU for CT, half Otsu's threshold otherwise.

    Half of Otsu because MR signal falls off towards the edges of a coil and
    inside dark inserts; the closing and filling below mend the rest.
    """
    if modality.upper() == "CT":
        return CT_BODY_THRESHOLD_HU
    otsu = sitk.OtsuThresholdImageFilter()
    otsu.SetInsideValue(0)
    otsu.SetOutsideValue(1)
    otsu.Execute(image)
    return 0.5 * otsu.GetThreshold()


def body_mask(image: sitk.Image, threshold: float, open_mm: float = 6.0, close_mm: float = 10.0,
              min_part: float = 0.1) -> sitk.Image:
    """Threshold, open (detaches a thin table), keep the large components, close and fill holes.

    Components of at least ``min_part`` of the largest one's size are kept,
    not the largest alone, so two legs or an arm beside the body stay in.
    Where the opening would leave nothing (a small crop), the plain
    threshold is used.
    ``image`` should be coarse (see ``BODY_MASK_SPACING_MM``); the result is
    a uint8 image on its grid.
    """
    above = sitk.BinaryThreshold(image, lowerThreshold=float(threshold), upperThreshold=float(np.finfo(np.float32).max))
    mask = sitk.BinaryMorphologicalOpening(above, _radius(image, open_mm / 2))
    if not np.any(sitk.GetArrayViewFromImage(mask)):
        mask = above  # a small image's body can be thinner than the opening: keep it unopened rather than lose it
    components = sitk.RelabelComponent(sitk.ConnectedComponent(mask))  # labels sorted by size, largest 1
    labels = sitk.GetArrayViewFromImage(components)
    sizes = np.bincount(labels.ravel())[1:]
    if sizes.size == 0:
        raise RegistrationError(f"no voxel above the body threshold {threshold:g}; give a mask or another threshold")
    keep = int(np.sum(sizes >= min_part * sizes[0]))
    mask = sitk.BinaryThreshold(components, 1, keep)
    mask = sitk.BinaryMorphologicalClosing(mask, _radius(image, close_mm / 2))
    return sitk.Cast(sitk.BinaryFillhole(mask), sitk.sitkUInt8)


def dilate(mask: sitk.Image, mm: float) -> sitk.Image:
    """The mask grown by ``mm``, so the body's edge, the most informative place, is sampled from both sides."""
    if mm <= 0:
        return mask
    return sitk.BinaryDilate(mask, _radius(mask, mm))


def threshold_mask(volume: Volume, lower: float, upper: float = float("inf")) -> Volume:
    """A caller's mask: voxels with ``lower <= value <= upper`` (uint8 Volume on the same grid)."""
    array = ((volume.array >= lower) & (volume.array <= upper)).astype(np.uint8)
    return Volume(array, volume.affine.copy(), itk_parts=volume.itk_parts)


def region_mask(volume: Volume, lps_min: np.ndarray | list[float], lps_max: np.ndarray | list[float]) -> Volume:
    """A caller's mask: the voxels whose centres lie in an LPS box (uint8 Volume on the same grid)."""
    lo, hi = np.minimum(lps_min, lps_max), np.maximum(lps_min, lps_max)
    ni, nj, nk = volume.shape_ijk
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    world = volume.index_to_world(np.stack([i, j, k], axis=-1).reshape(-1, 3)).reshape(nk, nj, ni, 3)
    inside = np.all((world >= lo) & (world <= hi), axis=-1)
    return Volume(inside.astype(np.uint8), volume.affine.copy(), itk_parts=volume.itk_parts)


def mask_on_grid(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """``mask`` resampled (nearest neighbour, in world coordinates) onto ``reference``'s grid."""
    return mask_on_grid_through(mask, reference, sitk.Transform())


def mask_on_grid_through(mask: sitk.Image, reference: sitk.Image, transform: sitk.Transform) -> sitk.Image:
    """``mask`` pulled onto ``reference``'s grid through a reference->mask transform (nearest neighbour)."""
    return sitk.Resample(mask, reference, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def bounding_box(mask: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """LPS (min corner, max corner) of the voxels of a mask, voxel extents included."""
    k, j, i = np.nonzero(sitk.GetArrayViewFromImage(mask))
    if len(i) == 0:
        raise RegistrationError("the mask is empty")
    lo, hi = np.array([i.min(), j.min(), k.min()]) - 0.5, np.array([i.max(), j.max(), k.max()]) + 0.5
    corners = [mask.TransformContinuousIndexToPhysicalPoint([float(c) for c in (x, y, z)])
               for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    return np.min(corners, axis=0), np.max(corners, axis=0)


def crop_to_box(image: sitk.Image, lo: np.ndarray, hi: np.ndarray, margin_mm: float = 0.0) -> sitk.Image:
    """The part of ``image`` inside an LPS box grown by ``margin_mm`` (geometry kept, no resampling).

    ITK's registration copies both images through its own (here idle)
    smoothing and shrinking filters on every run, and samples them at random:
    cutting away the air around the body saves that copying and cache misses.
    """
    lo, hi = np.asarray(lo) - margin_mm, np.asarray(hi) + margin_mm
    corners = np.array([image.TransformPhysicalPointToContinuousIndex([float(c) for c in (x, y, z)])
                        for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    size = np.asarray(image.GetSize())
    start = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, size - 1)
    stop = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 1, start + 1, size)
    if np.array_equal(start, 0) and np.array_equal(stop, size):
        return image
    return sitk.RegionOfInterest(image, [int(v) for v in stop - start], [int(v) for v in start])


def centroid(mask: sitk.Image) -> np.ndarray:
    """LPS centre of mass of a binary mask."""
    k, j, i = np.nonzero(sitk.GetArrayViewFromImage(mask))
    if len(i) == 0:
        raise RegistrationError("the mask is empty")
    index = np.stack([i, j, k], axis=1).mean(axis=0)
    return np.asarray(mask.TransformContinuousIndexToPhysicalPoint(index.tolist()))


def principal_axes(mask: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues ascending, 3x3 LPS eigenvectors as columns) of a mask's second moments."""
    k, j, i = np.nonzero(sitk.GetArrayViewFromImage(mask))
    a = np.asarray(mask.GetDirection()).reshape(3, 3) * np.asarray(mask.GetSpacing())[None, :]
    points = np.stack([i, j, k], axis=1) @ a.T
    values, vectors = np.linalg.eigh(np.cov(points.T))
    return values, vectors
