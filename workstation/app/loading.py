"""Loading one planned volume so that its first slice is on screen long before the last is decoded.

``workstation.dicom.load.load_plan`` decodes into one preallocated array and
hands each finished slice to ``on_slice`` (the middle one first, in the
job's own thread). The first call here wraps that very array in a preview
``Volume`` on the plan's exact grid and posts it to the GUI, which shows it
at once; later slices only post their index, and the GUI re-renders now and
then. Nothing is copied: VTK reads the array the decoders are filling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workstation.dicom import load
from workstation.dicom.assemble import SeriesPlan
from workstation.jobs import CancelFlag, Progress
from workstation.volume import Volume


@dataclass(frozen=True)
class FirstSlice:
    """Posted once: the volume being filled (only slice ``k`` is decoded yet)."""

    volume: Volume
    k: int


@dataclass(frozen=True)
class SliceDone:
    """Posted for each later slice of the first time point."""

    k: int


def preview_volume(plan: SeriesPlan, array: np.ndarray) -> Volume:
    """The plan's volume around ``array``, with the metadata the finished load will have (bar decode warnings).

    Adapter: ``load._meta`` is the loader's own metadata builder; calling it
    keeps one definition of what a volume's metadata is.
    """
    return Volume.from_parts(array, plan.spacing, plan.origin, plan.direction, load._meta(plan, []))


def load_progressively(progress: Progress, cancel: CancelFlag | None, plan: SeriesPlan,
                       post: Callable[[object], None]) -> Volume:
    """Job: ``load_plan`` that posts ``FirstSlice`` then ``SliceDone`` events; returns the finished volume."""
    arrays: list[np.ndarray] = []  # the volume's array, kept to show it while its other slices land

    def allocate(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        arrays.append(np.empty(shape, dtype))
        return arrays[0]

    def on_slice(k: int, pixels: np.ndarray) -> None:
        try:  # the first slice reported (the middle one, decoded before the decoder threads start) takes it
            array = arrays.pop()  # atomic: one caller alone gets it
        except IndexError:
            post(SliceDone(k))
            return
        post(FirstSlice(preview_volume(plan, array), k))

    return load.load_plan(progress, cancel, plan, on_slice=on_slice, allocate=allocate)
