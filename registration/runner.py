"""``register(fixed, moving, params)``: one watchable, cancellable, replayable registration run.

The run picks a start (see ``initialise``), then optimises level by level
from coarse to fine on pyramids built once from the Volumes' arrays. It
reports every iteration through ``on_iteration``, stops within a fraction of
a second when ``cancel`` is set (``Cancelled`` is raised, nothing is
returned), and records what is needed to replay it: parameters, seed, thread
count and library versions.

Threads and replay: the same seed gives the bit-identical transform, whatever
``threads`` is. ITK's metrics sum over work units in a varying order, so every
optimisation runs on one ITK thread (the process-wide default is held at 1
during a run, see ``optimise.itk_single_threaded``); ``threads`` is the number
of orientation-search candidates optimised side by side, each independent of
the others. It is recorded in the result with the seed and library versions.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

import workstation
from registration import initialise, start_check
from registration.context import IterationEvent, RunContext
from registration.fit import check_mask, check_volume, fit_to_images, scanner_boxes_overlap
from registration.optimise import itk_single_threaded
from registration.parameters import RegistrationParameters, load_preset
from registration.transforms import matrix_lps
from workstation.errors import RegistrationError
from workstation.jobs import CancelFlag, check_cancel
from workstation.volume import Volume

__all__ = ["IterationEvent", "RegistrationResult", "register", "library_versions"]

INITS = ("auto", "geometry", "moments", "search", "scanner", "landmarks", "manual")
"""``auto`` uses a given initial transform, else given landmarks, else the scanner placement when both
images share a DICOM frame of reference, else the scanner placement against the orientation search (or,
with the preset's search off, against the centres of mass; see ``initialise.orientation_search``)."""


def same_frame(fixed: Volume, moving: Volume) -> bool:
    """Both images carry one DICOM frame of reference: their scanner placement is already right."""
    uid = fixed.meta.frame_of_reference_uid
    return bool(uid) and uid == moving.meta.frame_of_reference_uid


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "SimpleITK": sitk.Version.VersionString(),
            "numpy": np.__version__, "workstation": workstation.__version__}


@dataclass
class RegistrationResult:
    """A finished run: the transform (fixed point -> moving point) and what made it."""

    transform: sitk.Transform
    matrix_lps: np.ndarray
    metric: float
    iterations: int
    seconds: float
    metric_history: list[tuple[int, int, float]]
    parameters: RegistrationParameters
    init: str
    seed: int
    threads: int
    versions: dict[str, str] = field(default_factory=library_versions)
    levels: list[dict[str, Any]] = field(default_factory=list)
    search: list[dict[str, Any]] = field(default_factory=list)
    kept_start: bool = False
    start_check: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for a status bar or a terminal; says so when the start was kept."""
        line = (f"{self.parameters.name} ({self.init}): metric {self.metric:.5f} after {self.iterations} iterations "
                f"in {self.seconds:.1f} s")
        if self.kept_start:
            line += "; the run ended worse than where it started, so the start was kept"
        return line

    def to_dict(self) -> dict[str, Any]:
        """Everything but the ITK object, JSON-ready (the matrix is the bulk part for a B-spline)."""
        return {
            "transform_kind": self.transform.GetName(),
            "matrix_lps": np.asarray(self.matrix_lps).tolist(),
            "maps": "fixed-space points to moving-space points",
            "metric": self.metric, "iterations": self.iterations, "seconds": self.seconds,
            "metric_history": [list(h) for h in self.metric_history],
            "parameters": self.parameters.to_dict(), "init": self.init, "seed": self.seed,
            "threads": self.threads, "versions": dict(self.versions), "levels": list(self.levels),
            "search": list(self.search), "kept_start": self.kept_start, "start_check": dict(self.start_check),
        }


def register(fixed: Volume, moving: Volume, params: RegistrationParameters, *, init: str = "auto", seed: int = 0,
             threads: int | None = None, on_iteration: Callable[[IterationEvent], None] | None = None,
             cancel: CancelFlag | None = None, fixed_mask: Volume | None = None, moving_mask: Volume | None = None,
             fixed_landmarks: np.ndarray | None = None, moving_landmarks: np.ndarray | None = None,
             initial_transform: sitk.Transform | np.ndarray | None = None) -> RegistrationResult:
    """Register ``moving`` to ``fixed``; the result maps fixed-space points to moving-space points (LPS)."""
    started = time.perf_counter()
    if init not in INITS:
        raise RegistrationError(f"unknown init {init!r}; use one of {', '.join(INITS)}")
    threads = int(threads or os.cpu_count() or 1)
    if params.method == "landmarks":
        return _landmark_run(params, fixed_landmarks, moving_landmarks, seed, threads, started)
    if params.method != "intensity":
        raise RegistrationError(f"unknown registration method {params.method!r}; use intensity or landmarks")
    if not params.levels:
        raise RegistrationError(f"preset {params.name!r} has no resolution levels")
    for volume in (fixed, moving):
        check_volume(volume)
    for mask in (fixed_mask, moving_mask):
        if mask is not None:
            check_mask(mask)
    params = fit_to_images(params, fixed, moving)
    check_cancel(cancel)
    ctx = RunContext(fixed, moving, params, seed, threads, cancel, on_iteration, fixed_mask, moving_mask)
    with itk_single_threaded():
        start, label, search = _start(ctx, init, fixed_landmarks, moving_landmarks, initial_transform)
        kind = "affine" if params.transform.kind == "bspline" else params.transform.kind
        if params.transform.kind == "bspline":
            transform, levels, label = _deformable(ctx, start, label, initial_transform)
        else:
            transform = initialise.movable_transform(start, ctx.centroid("fixed"), kind)
            levels = _linear_levels(ctx, transform)
        start_transform = initialise.movable_transform(start, ctx.centroid("fixed"), kind)
        check = start_check.compare(ctx, start_transform, transform)
    metric = levels[-1]["metric"]
    if check.end_is_worse:
        transform, metric = start_transform, check.metric_start
    return RegistrationResult(
        transform=transform, matrix_lps=matrix_lps(transform, linear_part=True), metric=metric,
        iterations=sum(level["iterations"] for level in levels), seconds=time.perf_counter() - started,
        metric_history=ctx.history, parameters=params, init=label, seed=seed, threads=threads, levels=levels,
        search=search, kept_start=check.end_is_worse, start_check=check.to_dict())


def _start(ctx: RunContext, init: str, fixed_landmarks: np.ndarray | None, moving_landmarks: np.ndarray | None,
           initial_transform: sitk.Transform | np.ndarray | None) -> tuple[np.ndarray, str, list[dict[str, Any]]]:
    """The starting matrix, a label saying how it was found, and the search's record (if one ran)."""
    if init == "auto":
        if initial_transform is not None:
            init = "manual"
        elif fixed_landmarks is not None and moving_landmarks is not None:
            init = "landmarks"
        elif not scanner_boxes_overlap(ctx.fixed, ctx.moving):
            init = "scanner"  # refused below: disjoint images are bad input unless the caller asks for a search
        elif same_frame(ctx.fixed, ctx.moving):
            init = "scanner"
        else:
            outcome = initialise.orientation_search(ctx, rotations=ctx.params.search.enabled)
            return outcome.matrix, f"search: {outcome.label}", [c.to_dict() for c in outcome.candidates]
    if init == "scanner" and not scanner_boxes_overlap(ctx.fixed, ctx.moving):
        raise RegistrationError("the images do not overlap at all where the scanner placed them; to align them "
                                "by content anyway, start from a search (init search) or landmarks")
    if init == "manual":
        if initial_transform is None:
            raise RegistrationError("init 'manual' needs an initial transform")
        return initialise.manual(initial_transform), "manual", []
    if init == "landmarks":
        if fixed_landmarks is None or moving_landmarks is None:
            raise RegistrationError("init 'landmarks' needs fixed and moving landmarks")
        return initialise.from_landmarks(fixed_landmarks, moving_landmarks), "landmarks", []
    if init == "geometry":
        return initialise.geometric_centres(ctx.fixed, ctx.moving), "geometry", []
    if init == "moments":
        return initialise.moments(ctx), "moments", []
    if init == "scanner":
        return np.eye(4), "scanner (same frame of reference)" if same_frame(ctx.fixed, ctx.moving) else "scanner", []
    outcome = initialise.orientation_search(ctx)
    return outcome.matrix, f"search: {outcome.label}", [c.to_dict() for c in outcome.candidates]


def _linear_levels(ctx: RunContext, transform: sitk.Transform, stage: str = "level") -> list[dict[str, Any]]:
    """Optimise ``transform`` in place through the parameters' levels; one record per level."""
    records = []
    for n, level in enumerate(ctx.params.levels):
        run = ctx.optimise_at(transform, spacing_mm=level.spacing_mm, smoothing_mm=level.smoothing_mm,
                              iterations=level.iterations, step_mm=level.step_mm,
                              sampling_percentage=level.sampling_percentage, level=n, stage=stage)
        records.append({"level": n, "spacing_mm": level.spacing_mm, "iterations": run.iterations,
                        "metric": run.metric, "stop": run.stop})
    return records


def _deformable(ctx: RunContext, start: np.ndarray, label: str,
                initial_transform: Any) -> tuple[sitk.Transform, list[dict[str, Any]], str]:
    """A bulk rigid/affine stage (unless the caller gave one), then one bounded B-spline grid per level."""
    params = ctx.params
    if initial_transform is not None or params.transform.bulk_preset is None:
        bulk: sitk.Transform = initialise.movable_transform(start, ctx.centroid("fixed"), "affine")
    else:
        bulk_params = load_preset(params.transform.bulk_preset)
        # The bulk motion needs no finer level than the B-spline stage that follows it.
        finest = min(level.spacing_mm for level in params.levels)
        bulk_params.levels = [level for level in bulk_params.levels if level.spacing_mm >= finest] or \
            bulk_params.levels[:1]
        bulk_params = fit_to_images(bulk_params, ctx.fixed, ctx.moving)
        bulk_ctx = ctx.for_stage(bulk_params)
        bulk = initialise.movable_transform(start, bulk_ctx.centroid("fixed"), bulk_params.transform.kind)
        _linear_levels(bulk_ctx, bulk, stage="bulk")
        label = f"{label}, then {params.transform.bulk_preset}"
    records, composite = [], sitk.CompositeTransform([bulk])
    for n, level in enumerate(params.levels):
        if level.grid_spacing_mm is None:
            raise RegistrationError(f"B-spline level {n} has no grid_spacing_mm")
        fixed_image, _ = ctx.images(level.spacing_mm, level.smoothing_mm)
        spline = _bspline_over(fixed_image, level.grid_spacing_mm, params.transform.spline_order)
        run = ctx.optimise_at(spline, spacing_mm=level.spacing_mm, smoothing_mm=level.smoothing_mm,
                              iterations=level.iterations, step_mm=level.step_mm,
                              sampling_percentage=level.sampling_percentage, level=n, warp=composite,
                              coefficient_bound=params.transform.max_coefficient_fraction * level.grid_spacing_mm)
        composite.AddTransform(spline)
        records.append({"level": n, "spacing_mm": level.spacing_mm, "grid_spacing_mm": level.grid_spacing_mm,
                        "iterations": run.iterations, "metric": run.metric, "stop": run.stop})
    return composite, records, label


def _bspline_over(image: sitk.Image, grid_spacing_mm: float, order: int) -> sitk.BSplineTransform:
    """A zero B-spline whose control grid covers ``image`` with about ``grid_spacing_mm`` between knots."""
    extent = np.asarray(image.GetSize()) * np.asarray(image.GetSpacing())
    mesh = [max(1, int(round(e / grid_spacing_mm))) for e in extent]
    return sitk.BSplineTransformInitializer(image, mesh, order)


def _landmark_run(params: RegistrationParameters, fixed_landmarks: np.ndarray | None,
                  moving_landmarks: np.ndarray | None, seed: int, threads: int,
                  started: float) -> RegistrationResult:
    """Paired points only: the least-squares fit is the whole registration; its metric is the RMS residual (mm)."""
    if fixed_landmarks is None or moving_landmarks is None:
        raise RegistrationError(f"preset {params.name!r} needs fixed and moving landmarks")
    kind = "affine" if params.transform.kind == "affine" else "rigid"
    m = initialise.from_landmarks(fixed_landmarks, moving_landmarks, kind)
    f = np.asarray(fixed_landmarks, dtype=np.float64).reshape(-1, 3)
    residual = f @ m[:3, :3].T + m[:3, 3] - np.asarray(moving_landmarks, dtype=np.float64).reshape(-1, 3)
    rms = float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))
    transform = initialise.movable_transform(m, f.mean(axis=0), kind)
    return RegistrationResult(transform=transform, matrix_lps=m, metric=rms, iterations=0,
                              seconds=time.perf_counter() - started, metric_history=[], parameters=params,
                              init="landmarks", seed=seed, threads=threads,
                              levels=[{"level": 0, "metric": rms, "iterations": 0, "stop": "least squares"}])
