"""Writing a tool's result into a label map, through the undo history when there is one.

Every tool ends the same way: some voxels become a segment's number, some of
the segment's voxels go back to background, the rest of the map stays. One
function does it for all tools, on the smallest box that can change.
"""

from __future__ import annotations

import numpy as np

from segmentation.history import EditHistory, Region, bounding_box
from workstation.labels import LabelMap


def commit(labels: LabelMap, name: str, region: Region, after: np.ndarray, history: EditHistory | None) -> None:
    """Write ``after`` into ``region`` of ``labels``, as an undoable edit when ``history`` is given."""
    if history is not None:
        if history.labels is not labels:
            raise ValueError("the history belongs to another label map")
        history.apply(name, region, after)
    else:
        labels.array[region] = after


def set_segment(labels: LabelMap, number: int, mask: np.ndarray, name: str, history: EditHistory | None = None,
                overwrite: bool = False) -> None:
    """Make segment ``number`` exactly ``mask`` (a boolean array on the map's grid).

    Voxels of other segments stay theirs unless ``overwrite`` (a radiologist
    refining a lesion inside an organ does not want the organ punched out).
    """
    if mask.shape != labels.array.shape:
        raise ValueError(f"mask {mask.shape} is not on the label map's grid {labels.array.shape}")
    region = bounding_box(mask | (labels.array == number))
    if region is None:
        return
    current = labels.array[region]
    inside = mask[region]
    after = current.copy()
    after[(current == number) & ~inside] = 0
    after[inside & ((current == 0) | overwrite)] = number
    commit(labels, name, region, after, history)
