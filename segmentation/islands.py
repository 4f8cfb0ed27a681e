"""Islands: keep the largest piece of a segment, remove small pieces, split pieces into segments.

Pieces are face-connected (6 neighbours), as in region growing, so what
touches only at a corner counts as two islands.
"""

from __future__ import annotations

import numpy as np

from segmentation.components import face_components
from segmentation.edit import commit, set_segment
from segmentation.filters import pasted, segment_box
from segmentation.history import EditHistory, bounding_box
from workstation.jobs import CancelFlag, Progress
from workstation.labels import LabelMap, default_segment


def islands(progress: Progress, cancel: CancelFlag | None, labels: LabelMap, number: int) -> np.ndarray:
    """The islands of segment ``number``: an int32 array, 1 for the largest, 2 the next, ..., 0 outside; a job.
    Only the segment's box is searched (outside it there is no island)."""
    region, mask = segment_box(labels, number, (0, 0, 0))
    return pasted(labels.array.shape, region, face_components(mask, progress, cancel, "finding islands",
                                                              by_size=True))


def keep_largest(progress: Progress, cancel: CancelFlag | None, labels: LabelMap, number: int,
                 history: EditHistory | None = None) -> None:
    """Remove every island of segment ``number`` but the largest; a job."""
    set_segment(labels, number, islands(progress, cancel, labels, number) == 1, "keep largest island", history)


def remove_small(progress: Progress, cancel: CancelFlag | None, labels: LabelMap, number: int, min_voxels: int,
                 history: EditHistory | None = None) -> None:
    """Remove the islands of segment ``number`` smaller than ``min_voxels``; a job."""
    pieces = islands(progress, cancel, labels, number)
    sizes = np.bincount(pieces.ravel())
    keep = np.flatnonzero(sizes >= min_voxels)
    set_segment(labels, number, np.isin(pieces, keep[keep > 0]), "remove small islands", history)


def split(progress: Progress, cancel: CancelFlag | None, labels: LabelMap, number: int,
          history: EditHistory | None = None) -> list[int]:
    """Give each island but the largest of segment ``number`` a new segment of its own; a job.

    Returns the new segments' numbers (largest island first after the one
    kept). The map is widened to uint16 when numbers pass 255.
    """
    pieces = islands(progress, cancel, labels, number)
    count = int(pieces.max())
    if count < 2:
        return []
    first = labels.next_number()
    last = first + count - 2
    if last > np.iinfo(labels.array.dtype).max:
        raise ValueError(f"{count} islands do not fit in a {labels.array.dtype} label map")
    original = labels.segment(number)
    new = [default_segment(first + n, f"{original.label} {n + 2}") for n in range(count - 1)]
    region = bounding_box(pieces > 1)
    after = labels.array[region].copy()
    moved = pieces[region]
    after[moved > 1] = (moved[moved > 1] + first - 2).astype(after.dtype)
    commit(labels, "split islands", region, after, history)
    labels.segments.extend(new)
    return [s.number for s in new]
