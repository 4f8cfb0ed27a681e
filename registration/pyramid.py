"""Resolution pyramids built once per run, straight from the Volume's array.

Registration spends most of its time at coarse levels, and SimpleITK's own
multi-resolution support smooths and shrinks the full image again for every
``Execute``. Here each level is bin-averaged in numpy from strided views of
the original array (the full-resolution image is never copied: a 512 x 512 x
283 CT would cost 300 MB per copy), cast to float32, optionally smoothed in
millimetres, and cached by its physical spacing so the orientation search and
the levels share them.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from workstation.errors import RegistrationError
from workstation.volume import Volume


def shrink_factors(spacing: np.ndarray, spacing_mm: float) -> tuple[int, int, int]:
    """Integer (i, j, k) bin sizes that bring each axis nearest to ``spacing_mm``, at least 1."""
    return tuple(int(max(1, round(spacing_mm / s))) for s in spacing)  # type: ignore[return-value]


def bin_average(array: np.ndarray, factors_kji: tuple[int, int, int]) -> np.ndarray:
    """Mean over ``factors`` blocks, float32; a trailing partial block is dropped.

    One axis at a time, summing strided views: no full-size temporary, and
    the first pass already shrinks the data by its factor.
    """
    out = array
    for axis, f in enumerate(factors_kji):
        if f == 1:
            continue
        n = out.shape[axis] // f
        if n == 0:
            raise RegistrationError(f"image too small to shrink by {f} along axis {axis}")
        acc = None
        for offset in range(f):
            index = [slice(None)] * 3
            index[axis] = slice(offset, offset + n * f, f)
            part = out[tuple(index)]
            if acc is None:
                acc = part.astype(np.float32)
            else:
                acc += part
        acc *= np.float32(1.0 / f)
        out = acc
    return np.ascontiguousarray(out, dtype=np.float32)


class Pyramid:
    """Float32 SimpleITK images of one Volume at the physical spacings asked for, built lazily."""

    def __init__(self, volume: Volume) -> None:
        if volume.array.ndim != 3:
            raise RegistrationError(f"registration needs a 3D volume, got shape {volume.array.shape}")
        self.volume = volume
        self.spacing, self.origin, self.direction = volume.geometry_parts()
        self._binned: dict[tuple[int, int, int], np.ndarray] = {}
        self._images: dict[tuple[float, float], sitk.Image] = {}

    def factors(self, spacing_mm: float) -> tuple[int, int, int]:
        return shrink_factors(self.spacing, spacing_mm)

    def _binned_array(self, factors: tuple[int, int, int]) -> np.ndarray:
        """Bin-averaged array (k, j, i); reuses a finer cached level when its factors divide these."""
        if factors in self._binned:
            return self._binned[factors]
        source, done = self.volume.array, (1, 1, 1)
        for have, arr in self._binned.items():
            if all(f % h == 0 for f, h in zip(factors, have, strict=True)) and np.prod(have) > np.prod(done):
                source, done = arr, have
        rest = tuple(f // d for f, d in zip(factors, done, strict=True))
        binned = bin_average(source, (rest[2], rest[1], rest[0]))
        self._binned[factors] = binned
        return binned

    def image(self, spacing_mm: float, smoothing_mm: float = 0.0) -> sitk.Image:
        """The volume near ``spacing_mm`` (float32), Gaussian-smoothed by ``smoothing_mm`` sigma."""
        key = (float(spacing_mm), float(smoothing_mm))
        if key in self._images:
            return self._images[key]
        factors = self.factors(spacing_mm)
        image = sitk.GetImageFromArray(self._binned_array(factors))
        f = np.asarray(factors, dtype=np.float64)
        # The centre of a block of f voxels sits (f - 1) / 2 voxels in from its first voxel.
        origin = self.origin + self.direction @ ((f - 1) / 2 * self.spacing)
        image.SetSpacing(tuple(float(s) for s in self.spacing * f))
        image.SetOrigin(tuple(float(o) for o in origin))
        image.SetDirection(tuple(float(d) for d in self.direction.ravel()))
        if smoothing_mm > 0:
            image = sitk.SmoothingRecursiveGaussian(image, float(smoothing_mm))
        self._images[key] = image
        return image
