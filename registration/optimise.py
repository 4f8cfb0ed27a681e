"""One local optimisation at one resolution: SimpleITK's ImageRegistrationMethod, watched and stoppable.

Every optimisation the package runs (the orientation search's candidates and
each level of a run) goes through ``optimise``, so all of them honour the
same cancel flag, report iterations the same way and sample the metric with
the same seed. Each call is a single-level ``Execute`` on images the caller
already shrank (see ``pyramid``), which avoids SimpleITK re-smoothing the
full images for every run.

Determinism: random metric sampling draws its points in the fixed image's
domain from ``seed`` (``SetMetricSamplingPercentage(p, seed)``), independent
of the transform, so two candidates scored at one level see the same points.
ITK's v4 metrics, however, accumulate their sums over work units in an order
that varies from run to run (measured: last-digit differences with two
threads, even with the method's ``SetNumberOfThreads(1)``, because the
metric's threader takes the process-wide default). Only one work unit gives
bit-identical replays, so ``itk_single_threaded`` sets the process-wide
default to 1 for the duration of a run; speed comes instead from optimising
the orientation search's candidates side by side in Python threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from registration.parameters import MetricSettings, OptimizerSettings
from workstation.errors import Cancelled, RegistrationError, last_line
from workstation.jobs import CancelFlag

_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0
_THREADS_SAVED = 0


@contextmanager
def itk_single_threaded() -> Iterator[None]:
    """ITK's process-wide default thread count is 1 inside (reference-counted across concurrent runs).

    Other SimpleITK work started meanwhile in the process also runs on one
    thread: slower, never different.
    """
    global _THREADS_USERS, _THREADS_SAVED
    with _THREADS_LOCK:
        if _THREADS_USERS == 0:
            _THREADS_SAVED = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        _THREADS_USERS += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS -= 1
            if _THREADS_USERS == 0:
                sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(_THREADS_SAVED)


Observer = Callable[[int, float, sitk.Transform], None]
"""Called after each optimiser iteration with (iteration, metric value, current transform)."""


@dataclass
class LevelRun:
    """What one optimisation ended with."""

    transform: sitk.Transform
    metric: float
    iterations: int
    stop: str


@dataclass
class LevelSetup:
    """The per-call knobs of ``optimise``; the rest comes from the parameters."""

    iterations: int
    step_mm: float
    sampling_strategy: str = "random"
    sampling_percentage: float = 0.05
    seed: int = 0
    threads: int = 1
    coefficient_bound: float | None = None


def itk_seed(seed: int) -> int:
    """ITK's sampling seed for a run's ``seed``: shifted by one, because ITK reads 0 as "use the wall clock"."""
    return int(seed) % (2**32 - 1) + 1


def _set_metric(method: sitk.ImageRegistrationMethod, metric: MetricSettings) -> None:
    kinds = {
        "mattes": lambda: method.SetMetricAsMattesMutualInformation(metric.bins),
        "correlation": method.SetMetricAsCorrelation,
        "ants_correlation": lambda: method.SetMetricAsANTSNeighborhoodCorrelation(metric.radius),
        "mean_squares": method.SetMetricAsMeanSquares,
    }
    if metric.kind not in kinds:
        raise RegistrationError(f"unknown metric {metric.kind!r}; known: {', '.join(kinds)}")
    kinds[metric.kind]()


def _set_sampling(method: sitk.ImageRegistrationMethod, setup: LevelSetup) -> None:
    strategies = {"random": method.RANDOM, "regular": method.REGULAR, "none": method.NONE}
    if setup.sampling_strategy not in strategies:
        raise RegistrationError(f"unknown sampling strategy {setup.sampling_strategy!r}")
    method.SetMetricSamplingStrategy(strategies[setup.sampling_strategy])
    if setup.sampling_strategy != "none":
        method.SetMetricSamplingPercentage(float(setup.sampling_percentage), itk_seed(setup.seed))


def _set_optimizer(method: sitk.ImageRegistrationMethod, optimizer: OptimizerSettings, setup: LevelSetup) -> None:
    if optimizer.kind == "regular_step":
        method.SetOptimizerAsRegularStepGradientDescent(
            learningRate=setup.step_mm, minStep=optimizer.min_step_mm, numberOfIterations=setup.iterations,
            relaxationFactor=optimizer.relaxation, gradientMagnitudeTolerance=optimizer.gradient_tolerance)
    elif optimizer.kind == "gradient_descent":
        method.SetOptimizerAsGradientDescent(
            learningRate=1.0, numberOfIterations=setup.iterations, convergenceMinimumValue=1e-6,
            convergenceWindowSize=10, estimateLearningRate=method.EachIteration,
            maximumStepSizeInPhysicalUnits=setup.step_mm)
    elif optimizer.kind == "lbfgsb":
        bound = setup.coefficient_bound if setup.coefficient_bound is not None else float("inf")
        method.SetOptimizerAsLBFGSB(
            gradientConvergenceTolerance=optimizer.gradient_tolerance, numberOfIterations=setup.iterations,
            maximumNumberOfCorrections=5, maximumNumberOfFunctionEvaluations=4 * setup.iterations,
            costFunctionConvergenceFactor=1e7, lowerBound=-bound, upperBound=bound)
        return  # L-BFGS-B works in the parameters' own units (mm for B-spline coefficients)
    else:
        raise RegistrationError(f"unknown optimizer {optimizer.kind!r}")
    if optimizer.scales == "physical_shift":
        method.SetOptimizerScalesFromPhysicalShift()
    else:
        method.SetOptimizerScales([float(s) for s in optimizer.scales])


def _method(metric: MetricSettings, setup: LevelSetup, fixed_mask: sitk.Image | None,
            moving_mask: sitk.Image | None) -> sitk.ImageRegistrationMethod:
    """A registration method with the metric, its sampling, interpolator and masks set (no optimiser yet)."""
    method = sitk.ImageRegistrationMethod()
    method.SetNumberOfThreads(int(setup.threads))
    _set_metric(method, metric)
    _set_sampling(method, setup)
    # By default ITK precomputes gradient images of both images in double precision
    # (24 bytes a voxel: 650 MB for a 512 x 512 x 283 CT) on every Execute; at a few
    # percent sampling, differentiating at the sample points is far cheaper.
    method.SetMetricUseFixedImageGradientFilter(False)
    method.SetMetricUseMovingImageGradientFilter(False)
    method.SetInterpolator(sitk.sitkLinear)
    if fixed_mask is not None:
        method.SetMetricFixedMask(fixed_mask)
    if moving_mask is not None:
        method.SetMetricMovingMask(moving_mask)
    return method


def evaluate(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, *, metric: MetricSettings,
             setup: LevelSetup, fixed_mask: sitk.Image | None = None, moving_mask: sitk.Image | None = None) -> float:
    """The metric of ``transform`` (not changed) on ``setup``'s seeded sample points; inf when too few overlap."""
    method = _method(metric, setup, fixed_mask, moving_mask)
    method.SetInitialTransform(sitk.Transform(transform), inPlace=False)
    return _evaluate(method, fixed, moving)


def optimise(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform, *, metric: MetricSettings,
             optimizer: OptimizerSettings, setup: LevelSetup, fixed_mask: sitk.Image | None = None,
             moving_mask: sitk.Image | None = None, observer: Observer | None = None,
             cancel: CancelFlag | None = None) -> LevelRun:
    """Optimise ``transform`` (modified in place) at one resolution; raise ``Cancelled`` if told to stop.

    The returned metric is evaluated afresh at the final position with the
    level's sampling, so values of candidates at one level compare like for
    like.
    """
    method = _method(metric, setup, fixed_mask, moving_mask)
    _set_optimizer(method, optimizer, setup)
    method.SetInitialTransform(transform, inPlace=True)

    def on_iteration() -> None:
        if cancel is not None and cancel.is_set():
            method.StopRegistration()
            return
        if observer is not None:
            current = sitk.Transform(transform)
            current.SetParameters(method.GetOptimizerPosition())
            observer(method.GetOptimizerIteration(), method.GetMetricValue(), current)

    method.AddCommand(sitk.sitkIterationEvent, on_iteration)
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    try:
        method.Execute(fixed, moving)
    except RuntimeError as exc:
        if cancel is not None and cancel.is_set():
            raise Cancelled() from exc
        reason = last_line(exc)
        raise RegistrationError(f"the optimiser failed ({reason}); the images may not overlap") from exc
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    value = _evaluate(method, fixed, moving)
    return LevelRun(transform, value, method.GetOptimizerIteration(), method.GetOptimizerStopConditionDescription())


def _evaluate(method: sitk.ImageRegistrationMethod, fixed: sitk.Image, moving: sitk.Image) -> float:
    try:
        return float(method.MetricEvaluate(fixed, moving))
    except RuntimeError:
        return float(np.inf)  # too few samples overlap: the worst possible score
