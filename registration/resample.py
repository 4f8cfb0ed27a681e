"""The moving volume resampled onto the fixed grid: what fusion views, exports and evaluation look at.

A fixed->moving transform is exactly what resampling needs: for each fixed
voxel centre it says where to read the moving image.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from workstation.errors import RegistrationError
from workstation.jobs import CancelFlag, check_cancel
from workstation.volume import Volume


def resample_to(fixed: Volume, moving: Volume, transform: sitk.Transform | np.ndarray | None = None, *,
                interpolator: int = sitk.sitkLinear, default_value: float | None = None,
                cancel: CancelFlag | None = None) -> Volume:
    """``moving`` on ``fixed``'s grid through ``transform`` (fixed point -> moving point; identity if None).

    Keeps the moving volume's voxel type and metadata (it is still the moving
    series' signal) on the fixed geometry. Outside the moving image the value
    is ``default_value``, by default the moving image's minimum (air, not a
    false zero in CT). Setting ``cancel`` aborts ITK's filter within a
    fraction of a second (``Cancelled``): through a B-spline, a whole MR
    takes a minute.
    """
    if moving.array.ndim != 3:
        raise RegistrationError(f"can only resample a 3D volume, got shape {moving.array.shape}")
    if transform is None:
        transform = sitk.Transform()
    elif isinstance(transform, np.ndarray):
        affine = sitk.AffineTransform(3)
        affine.SetMatrix(tuple(transform[:3, :3].ravel()))
        affine.SetTranslation(tuple(transform[:3, 3]))
        transform = affine
    if default_value is None:
        default_value = float(np.min(moving.array)) if moving.array.size else 0.0
    reference = sitk.Image(list(fixed.shape_ijk), sitk.sitkUInt8)
    spacing, origin, direction = fixed.geometry_parts()
    reference.SetSpacing(tuple(float(s) for s in spacing))
    reference.SetOrigin(tuple(float(o) for o in origin))
    reference.SetDirection(tuple(float(d) for d in direction.ravel()))
    moving_image = moving.to_sitk()
    resampler = sitk.ResampleImageFilter()
    resampler.SetReferenceImage(reference)
    resampler.SetTransform(transform)
    resampler.SetInterpolator(interpolator)
    resampler.SetDefaultPixelValue(float(default_value))
    resampler.SetOutputPixelType(moving_image.GetPixelID())
    if cancel is not None:
        resampler.AddCommand(sitk.sitkProgressEvent, lambda: cancel.is_set() and resampler.Abort())
    try:
        out = resampler.Execute(moving_image)
    except RuntimeError:
        check_cancel(cancel)  # aborted: a cancel, not an error
        raise
    return Volume.from_parts(sitk.GetArrayFromImage(out), spacing, origin, direction, replace(moving.meta))
