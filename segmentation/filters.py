"""Running SimpleITK filters as jobs: progress forwarded, cancel honoured.

Why: a 3D filter on a 283 x 512 x 512 CT runs for seconds; the job contract
asks for progress and a cancel that stops the work within a second.
SimpleITK reports progress through command observers and stops a filter
with ``Abort()``, which then raises; this turns that into ``Cancelled``.
ITK reports progress (and so can stop) every 1 % of a filter's work:
ConnectedThreshold every 1 % of the image's voxels it has filled (region
growing hands a region past 2 % to a component search, and a smaller one is
done in 0.3 s), the morphology filters in each of their passes.
ConnectedComponent (islands, large regions) reports at its phases only and
does not stop when asked: a cancel during it takes effect when it ends (1 s
for a whole CT), and its result is dropped.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from workstation.errors import Cancelled
from workstation.jobs import CancelFlag, Progress, check_cancel, no_progress
from workstation.volume import Volume


def execute(image_filter: sitk.ImageFilter, *inputs: sitk.Image, progress: Progress = no_progress,
            cancel: CancelFlag | None = None, message: str = "") -> sitk.Image:
    """``image_filter.Execute(*inputs)`` with progress and cancel."""
    check_cancel(cancel)
    text = message or image_filter.GetName()

    def on_progress() -> None:
        if cancel is not None and cancel.is_set():
            image_filter.Abort()  # ITK stops at its next progress step and reports 100 %: not passed on
            return
        progress(image_filter.GetProgress(), text)

    image_filter.AddCommand(sitk.sitkProgressEvent, on_progress)
    try:
        result = image_filter.Execute(*inputs)
        check_cancel(cancel)  # some filters (ConnectedThreshold) report no progress to abort on: drop their result
        return result
    except RuntimeError:
        if cancel is not None and cancel.is_set():
            raise Cancelled() from None
        raise
    finally:
        image_filter.RemoveAllCommands()


def mask_image(grid: Volume, mask: np.ndarray) -> sitk.Image:
    """A uint8 SimpleITK image of a boolean mask on ``grid``'s exact geometry."""
    return grid.place(sitk.GetImageFromArray(np.ascontiguousarray(mask, dtype=np.uint8)))


def as_mask(image: sitk.Image) -> np.ndarray:
    """A SimpleITK image as a boolean numpy mask (non-zero is in)."""
    return sitk.GetArrayViewFromImage(image) != 0
