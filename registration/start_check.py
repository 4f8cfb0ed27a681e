"""Never hand back a result worse than the start: compare the two at the run's final level.

A local optimiser can walk away from a good start: on a small field of view
a coarse level holds too little structure, on two contrasts the metric's
optimum can sit beside the anatomy's, and a user who started from a placement
that was already right (same frame of reference, a manual alignment) should
not get it spoiled. So after every run the start and the end are scored on
the same sample points at the final level, and on the overlap of the two
foreground masks (the callers' masks, else the body masks); when the end is
worse on either, the start is kept and the result says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import SimpleITK as sitk

from registration import masks
from registration.context import RunContext

OVERLAP_DROP = 0.05
"""A fall of the foreground Dice larger than this means the end lies worse than the start."""


@dataclass
class StartCheck:
    """The start and the end scored alike: the metric (lower is better) and the foreground Dice."""

    metric_start: float
    metric_end: float
    overlap_start: float
    overlap_end: float

    @property
    def end_is_worse(self) -> bool:
        return bool(self.metric_end > self.metric_start or self.overlap_end < self.overlap_start - OVERLAP_DROP)

    def to_dict(self) -> dict[str, float | bool]:
        return {**asdict(self), "end_is_worse": self.end_is_worse}


def foreground_dice(ctx: RunContext, transform: sitk.Transform) -> float:
    """Dice of the fixed foreground with the moving foreground pulled through ``transform`` onto its grid."""
    fixed = ctx.foreground("fixed")
    moving = masks.mask_on_grid_through(ctx.foreground("moving"), fixed, transform)
    a, b = sitk.GetArrayViewFromImage(fixed) > 0, sitk.GetArrayViewFromImage(moving) > 0
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int(np.logical_and(a, b).sum()) / total if total else 0.0


def compare(ctx: RunContext, start: sitk.Transform, end: sitk.Transform) -> StartCheck:
    """Score ``start`` and ``end`` at the final level of ``ctx.params`` on the same seeded points."""
    level = ctx.params.levels[-1]

    def metric(transform: sitk.Transform) -> float:
        return ctx.evaluate_at(transform, spacing_mm=level.spacing_mm, smoothing_mm=level.smoothing_mm,
                               sampling_percentage=level.sampling_percentage)

    return StartCheck(metric(start), metric(end), foreground_dice(ctx, start), foreground_dice(ctx, end))
