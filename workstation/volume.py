"""The one data model every layer shares: a voxel array with an exact LPS affine.

``array`` is C-contiguous with shape ``(k, j, i)`` (slice, row, column), or
``(t, k, j, i)`` for multi-volume series: SimpleITK's array order and the
memory order of ``vtkImageData``. ``affine`` maps ``(i, j, k, 1)`` to the
centre of that voxel in LPS mm. ``meta`` says what the numbers mean.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from workstation import geometry

if TYPE_CHECKING:
    import SimpleITK as sitk


@dataclass
class WindowPreset:
    """A named window centre/width in the volume's units."""

    name: str
    center: float
    width: float


@dataclass
class VolumeMeta:
    """What the voxels are and where they came from.

    Identity fields (patient, study, series) are for display and the library
    only; they must never be written to logs or error messages.
    """

    modality: str = ""
    units: str = ""
    description: str = ""
    series_uid: str = ""
    series_number: int | None = None
    study_uid: str = ""
    frame_of_reference_uid: str = ""
    patient_name: str = ""
    patient_id: str = ""
    patient_position: str = ""
    study_date: str = ""
    window_presets: list[WindowPreset] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def value_text(self, value: float) -> str:
        """A voxel value as the pixel probe shows it: with its units, and the Philips floating-point value where
        the voxels hold display values that differ from it (``extra["philips_fp_per_display"]``, set by the loader).
        """
        text = f"{value:g} {self.units or self.modality}".rstrip()
        factor = self.extra.get("philips_fp_per_display")
        if factor is not None and value * factor != value:
            text += f" (Philips FP {value * factor:g})"
        return text


@dataclass
class Volume:
    """A 3D (or 3D + t) image on an exact LPS grid."""

    array: np.ndarray
    affine: np.ndarray
    meta: VolumeMeta = field(default_factory=VolumeMeta)
    # The ITK-style (spacing, origin, direction) the affine was built from, kept
    # because splitting an affine back into them is off by an ulp: exact round
    # trips to SimpleITK use these while they still produce ``affine``.
    itk_parts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.array.ndim not in (3, 4):
            raise ValueError(f"volume array must be 3D or 4D, got shape {self.array.shape}")
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError("affine must be 4x4")

    @classmethod
    def from_parts(cls, array: np.ndarray, spacing: np.ndarray | list[float], origin: np.ndarray | list[float],
                   direction: np.ndarray | list[float], meta: VolumeMeta | None = None) -> Volume:
        """A Volume from ITK-style geometry, remembered for exact SimpleITK round trips."""
        parts = (np.asarray(spacing, dtype=np.float64).copy(), np.asarray(origin, dtype=np.float64).copy(),
                 np.asarray(direction, dtype=np.float64).reshape(3, 3).copy())
        return cls(array, geometry.affine_from(*parts), meta or VolumeMeta(), itk_parts=parts)

    def geometry_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ITK-style (spacing, origin, direction 3x3), exact when the volume came from them."""
        if self.itk_parts is not None and np.array_equal(geometry.affine_from(*self.itk_parts), self.affine):
            return self.itk_parts
        return geometry.decompose(self.affine)

    # -- geometry -----------------------------------------------------------
    @property
    def shape_ijk(self) -> tuple[int, int, int]:
        k, j, i = self.array.shape[-3:]
        return i, j, k

    @property
    def spacing(self) -> np.ndarray:
        return self.geometry_parts()[0].copy()

    @property
    def origin(self) -> np.ndarray:
        return self.affine[:3, 3].copy()

    @property
    def direction(self) -> np.ndarray:
        """3x3 whose columns are the unit i, j, k axes in LPS."""
        return self.geometry_parts()[2].copy()

    @property
    def timepoints(self) -> int:
        return self.array.shape[0] if self.array.ndim == 4 else 1

    def index_to_world(self, ijk: np.ndarray | list[float]) -> np.ndarray:
        return geometry.apply(self.affine, np.asarray(ijk, dtype=np.float64))

    def world_to_index(self, xyz: np.ndarray | list[float]) -> np.ndarray:
        """Continuous (i, j, k) of LPS points; round to get the nearest voxel."""
        return geometry.apply(np.linalg.inv(self.affine), np.asarray(xyz, dtype=np.float64))

    def value_at(self, xyz: np.ndarray | list[float], t: int = 0) -> float | None:
        """The voxel value nearest to an LPS point, or None outside the grid."""
        i, j, k = np.rint(self.world_to_index(xyz)).astype(int)
        ni, nj, nk = self.shape_ijk
        if not (0 <= i < ni and 0 <= j < nj and 0 <= k < nk):
            return None
        frame = self.array[t] if self.array.ndim == 4 else self.array
        return float(frame[k, j, i])

    def center(self) -> np.ndarray:
        """LPS position of the grid's centre."""
        return self.index_to_world((np.asarray(self.shape_ijk, dtype=np.float64) - 1) / 2)

    def frame(self, t: int) -> Volume:
        """One time point of a 4D volume as a 3D volume (a view, no copy)."""
        if self.array.ndim == 3:
            if t != 0:
                raise IndexError("a 3D volume has one time point")
            return self
        return replace(self, array=self.array[t])

    # -- SimpleITK ----------------------------------------------------------
    def to_sitk(self, t: int | None = None) -> sitk.Image:
        """An exact SimpleITK image (array, spacing, origin, direction).

        A 4D volume needs ``t``. Voxels decoded into ``sitk_array`` are
        shared, not copied (a change to the returned image's pixels or
        geometry makes SimpleITK copy them first, so the volume never
        changes through it); others are copied. Geometry is carried bit for
        bit.
        """
        import SimpleITK as sitk  # deferred: faster start-up
        arr = self.array
        if arr.ndim == 4:
            if t is None:
                raise ValueError("a 4D volume needs a time index for SimpleITK")
            arr = arr[t]
        holder = _buffer_holder(arr)
        if holder is not None:
            image = holder.image
            # Setting geometry on an image that is shared would make SimpleITK give it a new buffer, leaving the
            # array on the old one: it is set once, before the first copy exists, under a lock.
            with _SHARING:
                if not holder.shared:
                    self.place(image)
                    holder.shared = True
            spacing, origin, direction = self.geometry_parts()
            if (image.GetSpacing() == tuple(float(s) for s in spacing)
                    and image.GetOrigin() == tuple(float(o) for o in origin)
                    and image.GetDirection() == tuple(float(d) for d in direction.ravel())):
                return sitk.Image(image)  # shares the voxels; SimpleITK copies them first if either side is changed
        return self.place(sitk.GetImageFromArray(np.ascontiguousarray(arr)))

    def place(self, image: sitk.Image) -> sitk.Image:
        """Give a SimpleITK image of this grid's size this volume's exact spacing, origin and direction."""
        spacing, origin, direction = self.geometry_parts()
        image.SetSpacing(tuple(float(s) for s in spacing))
        image.SetOrigin(tuple(float(o) for o in origin))
        image.SetDirection(tuple(float(d) for d in direction.ravel()))
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image, meta: VolumeMeta | None = None) -> Volume:
        """A Volume from a 3D SimpleITK image; the affine is rebuilt from its geometry."""
        import SimpleITK as sitk  # deferred: faster start-up
        if image.GetDimension() != 3:
            raise ValueError(f"expected a 3D image, got {image.GetDimension()}D")
        return cls.from_parts(sitk.GetArrayFromImage(image), image.GetSpacing(), image.GetOrigin(),
                              image.GetDirection(), meta)


_SHARING = threading.Lock()
"""Held while ``Volume.to_sitk`` places an image before it first shares it."""


@cache
def _sitk_pixel_types() -> dict[np.dtype, int]:
    """SimpleITK's pixel type for each dtype an image of it holds as a numpy array can share."""
    import SimpleITK as sitk  # deferred: faster start-up
    return {
        np.dtype(np.uint8): sitk.sitkUInt8, np.dtype(np.int8): sitk.sitkInt8,
        np.dtype(np.uint16): sitk.sitkUInt16, np.dtype(np.int16): sitk.sitkInt16,
        np.dtype(np.uint32): sitk.sitkUInt32, np.dtype(np.int32): sitk.sitkInt32,
        np.dtype(np.float32): sitk.sitkFloat32, np.dtype(np.float64): sitk.sitkFloat64,
    }


def sitk_array(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised 3D array whose memory is a SimpleITK image's voxel buffer (``np.empty`` otherwise).

    Why: every hand-over of a plain array to SimpleITK (region growing,
    registration, writing a file) copies it, 0.3 s for a 148 MB CT, more than
    the filter itself. A volume decoded into such an array goes to SimpleITK
    through ``Volume.to_sitk`` without a copy. Loaders use it as their
    allocator.
    """
    dtype = np.dtype(dtype)
    if len(shape) != 3 or dtype not in _sitk_pixel_types():
        return np.empty(shape, dtype)
    import SimpleITK as sitk  # deferred: faster start-up
    return array_of(sitk.Image([int(n) for n in shape[::-1]], _sitk_pixel_types()[dtype]))


def array_of(image: sitk.Image) -> np.ndarray:
    """A writable numpy array over ``image``'s voxel buffer, in (k, j, i) order, that keeps the image alive.

    No copy (``GetArrayFromImage`` copies, ``GetArrayViewFromImage`` is
    read-only and does not hold the image). The array is the image's only
    user from here on: nothing else may change the image's pixels.
    """
    import SimpleITK as sitk  # deferred: faster start-up
    view = sitk.GetArrayViewFromImage(image)
    holder = (ctypes.c_byte * view.nbytes).from_address(view.__array_interface__["data"][0])
    holder.image = image  # type: ignore[attr-defined]  # the buffer lives as long as any array over it
    holder.shared = False  # type: ignore[attr-defined]  # set once to_sitk handed the image out
    return np.frombuffer(holder, dtype=view.dtype).reshape(view.shape)


def _buffer_holder(array: np.ndarray) -> Any:
    """The holder made by ``array_of`` when ``array`` spans its image's whole buffer as that image, else None."""
    base: Any = array
    while base is not None and not isinstance(base, ctypes.Array):
        base = getattr(base, "base", None)
    image = getattr(base, "image", None)
    if (image is None or not array.flags.c_contiguous or array.ctypes.data != ctypes.addressof(base)
            or _sitk_pixel_types().get(array.dtype) != image.GetPixelID()
            or tuple(array.shape[::-1]) != tuple(image.GetSize())):
        return None
    return base


GRID_TOLERANCE_MM = 1e-3
"""How far two grids' voxel centres may lie apart to be the same grid (a label map and its image)."""


def same_grid(a: Volume, b: Volume) -> bool:
    """Whether two volumes lie on the same 3D grid in LPS: shape, and every voxel centre within GRID_TOLERANCE_MM."""
    shape = a.array.shape[-3:]
    return shape == b.array.shape[-3:] and np.abs(a.affine - b.affine).max() * max(shape) <= GRID_TOLERANCE_MM
