"""Running SimpleITK filters as jobs: progress forwarded, cancel honoured.

Why: a 3D filter on a 283 x 512 x 512 CT runs for seconds; the job contract
asks for progress and a cancel that stops the work within a second.
SimpleITK reports progress through command observers and stops a filter
with ``Abort()``, which then raises; this turns that into ``Cancelled``.
ITK reports progress (and so can stop) every 1 % of a filter's work:
ConnectedThreshold every 1 % of the image's voxels it has filled (region
growing hands a region past 2 % to a component search, and a smaller one is
done in 0.3 s), the morphology filters in each of their passes.
ConnectedComponent does not stop when asked, so the component searches
(islands, large regions) run it a slab at a time (``segmentation.components``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from segmentation.history import Region, bounding_box
from workstation.errors import Cancelled
from workstation.jobs import CancelFlag, Progress, check_cancel, no_progress
from workstation.labels import LabelMap


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


def on_segment(progress: Progress, cancel: CancelFlag | None, image_filter: sitk.ImageFilter, labels: LabelMap,
               number: int, margin: Sequence[int], message: str) -> tuple[Region, np.ndarray]:
    """``image_filter`` run on segment ``number``'s bounding box widened by ``margin`` voxels (k, j, i); a job.

    Why: a lesion is a few thousand voxels of a 74M-voxel CT, and the 3D
    filters cost in proportion to the image they are given (a closing of
    the whole CT took 27 s). Everything outside the segment's box is
    background, so a margin as wide as the filter reaches (twice the radius
    for a closing) gives the same voxels as the whole image would.
    Returns the box and the filter's output there (what it is everywhere
    else: background); an empty segment gives an empty box.
    """
    region, crop = segment_box(labels, number, margin)
    if crop.size == 0:
        return region, np.zeros((0, 0, 0), np.uint8)
    image = sitk.GetImageFromArray(crop.astype(np.uint8))  # voxel filters: radii are in voxels already
    return region, sitk.GetArrayFromImage(execute(image_filter, image, progress=progress, cancel=cancel,
                                                  message=message))


def segment_box(labels: LabelMap, number: int, margin: Sequence[int]) -> tuple[Region, np.ndarray]:
    """Segment ``number``'s bounding box widened by ``margin`` voxels (k, j, i), within the map, and its mask
    there; an empty segment gives an empty box and mask."""
    mask = labels.mask(number)
    box = bounding_box(mask)
    if box is None:
        return (slice(0, 0),) * 3, np.zeros((0, 0, 0), bool)
    region: Region = tuple(slice(max(0, part.start - m), min(n, part.stop + m))  # type: ignore[assignment]
                           for part, m, n in zip(box, margin, mask.shape, strict=True))
    return region, mask[region]


def pasted(shape: tuple[int, ...], region: Region, values: np.ndarray) -> np.ndarray:
    """``values`` placed at ``region`` of a new zero array of ``shape`` (their dtype)."""
    out = np.zeros(shape, dtype=values.dtype)
    out[region] = values
    return out
