"""Undo and redo for a label map, storing only the box each edit changed.

Why boxes: a brush stroke on a 283 x 512 x 512 map changes a few thousand
voxels; keeping whole copies (74 MB each) would exhaust memory in a few dozen
strokes. Each edit keeps the before and after contents of the smallest box
holding its changes, and the oldest edits are dropped past a memory budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.labels import LabelMap

Region = tuple[slice, slice, slice]
DEFAULT_BUDGET = 256 * 2**20
"""Bytes of before/after boxes kept per map (a 256 MB default lets 3D edits of a large CT be undone a few times)."""


@dataclass
class Edit:
    """One edit: the box it changed (k, j, i slices) and the voxels there before and after."""

    name: str
    region: Region
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes


def changed_region(before: np.ndarray, after: np.ndarray) -> Region | None:
    """The smallest box holding every voxel that differs, or None when nothing does."""
    return bounding_box(before != after)


def bounding_box(mask: np.ndarray) -> Region | None:
    """The smallest (k, j, i) box holding every true voxel of ``mask``, or None when none is."""
    region = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(mask.any(axis=others))
        if hits.size == 0:
            return None
        region.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(region)  # type: ignore[return-value]


class EditHistory:
    """The undo and redo stacks of one label map; every change to the map goes through ``apply``."""

    def __init__(self, labels: LabelMap, budget: int = DEFAULT_BUDGET) -> None:
        self.labels = labels
        self.budget = budget
        self._undo: list[Edit] = []
        self._redo: list[Edit] = []

    def apply(self, name: str, region: Region, after: np.ndarray) -> Edit | None:
        """Write ``after`` into ``region`` of the map, remembering what was there; None if nothing changed."""
        current = self.labels.array[region]
        box = changed_region(current, after)
        if box is None:
            return None
        inner = tuple(slice(r.start + b.start, r.start + b.stop) for r, b in zip(region, box, strict=True))
        edit = Edit(name, inner, current[box].copy(), np.array(after[box], dtype=self.labels.array.dtype))
        self.labels.array[inner] = edit.after
        self._undo.append(edit)
        self._redo.clear()
        self._trim()
        return edit

    def replace(self, name: str, array: np.ndarray) -> Edit | None:
        """Make the whole map ``array`` (a 3D tool's result), keeping only the box that changed."""
        whole = tuple(slice(0, n) for n in self.labels.array.shape)
        return self.apply(name, whole, array)  # type: ignore[arg-type]

    def undo(self) -> Edit | None:
        """Put back what the last edit changed; None when there is nothing to undo."""
        if not self._undo:
            return None
        edit = self._undo.pop()
        self.labels.array[edit.region] = edit.before
        self._redo.append(edit)
        return edit

    def redo(self) -> Edit | None:
        """Apply again the last undone edit; None when there is nothing to redo."""
        if not self._redo:
            return None
        edit = self._redo.pop()
        self.labels.array[edit.region] = edit.after
        self._undo.append(edit)
        return edit

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._undo) + sum(e.nbytes for e in self._redo)

    def _trim(self) -> None:
        """Forget the oldest edits past the budget (the newest is always kept)."""
        while len(self._undo) > 1 and self.nbytes() > self.budget:
            self._undo.pop(0)
