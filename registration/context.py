"""What one registration run shares between its stages: pyramids, masks, seed, threads, cancel and reporting.

The orientation search and the resolution levels both optimise the same
images at a few physical resolutions; holding the pyramids and masks here
means each resolution is built once per run, whichever stage asks first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from registration import masks
from registration.fit import MIN_SAMPLES, coarsest_spacing_mm
from registration.optimise import LevelRun, LevelSetup, evaluate, optimise
from registration.parameters import RegistrationParameters
from registration.pyramid import Pyramid
from registration.transforms import matrix_lps
from workstation.errors import RegistrationError
from workstation.jobs import CancelFlag, check_cancel
from workstation.volume import Volume

CROP_MARGIN_MM = 20.0
"""Air kept around the moving body, so points mapped a little outside it still count as air."""


@dataclass
class IterationEvent:
    """One optimiser iteration, for live plots and for moving the moving image while it works.

    ``matrix_lps`` maps fixed-space points to moving-space points (for a
    B-spline, its bulk linear part). ``stage`` is ``search``, ``refine`` or
    ``check`` during the orientation search (``candidate`` says which start),
    ``bulk`` during the rigid stage before a B-spline, ``level`` during the
    run's own resolution levels (only these enter the metric history).
    """

    level: int
    iteration: int
    metric: float
    matrix_lps: np.ndarray
    stage: str = "level"
    candidate: int | None = None


def _volume_mask(volume: Volume) -> sitk.Image:
    image = volume.to_sitk(0 if volume.array.ndim == 4 else None)
    return sitk.Cast(image != 0, sitk.sitkUInt8)


@dataclass
class RunContext:
    """Images, masks and settings of one run; ``optimise_at`` runs one stage at one resolution."""

    fixed: Volume
    moving: Volume
    params: RegistrationParameters
    seed: int
    threads: int
    cancel: CancelFlag | None = None
    on_iteration: Callable[[IterationEvent], None] | None = None
    fixed_mask: Volume | None = None
    moving_mask: Volume | None = None
    history: list[tuple[int, int, float]] = field(default_factory=list)
    _fixed_pyramid: Pyramid = field(init=False)
    _moving_pyramid: Pyramid = field(init=False)
    _masks: dict[str, sitk.Image] = field(default_factory=dict, init=False)
    _level_masks: dict[tuple[tuple[float, ...], ...], tuple[sitk.Image, float]] = field(default_factory=dict,
                                                                                         init=False)
    _cropped: dict[tuple[float, float], tuple[sitk.Image, sitk.Image]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._fixed_pyramid = Pyramid(self.fixed)
        self._moving_pyramid = Pyramid(self.moving)

    def for_stage(self, params: RegistrationParameters) -> RunContext:
        """A context for another stage of the same run (e.g. the bulk motion before a B-spline) on the same pyramids.

        The pyramids are the costly part (bin-averaging the full images) and
        depend only on the images; masks and crops depend on the parameters
        and are made afresh.
        """
        other = RunContext(self.fixed, self.moving, params, self.seed, self.threads, self.cancel, self.on_iteration,
                           self.fixed_mask, self.moving_mask)
        other._fixed_pyramid, other._moving_pyramid = self._fixed_pyramid, self._moving_pyramid
        return other

    @property
    def mask_spacing_mm(self) -> float:
        """Body masks are made at ``masks.BODY_MASK_SPACING_MM``, or finer where a small image needs it."""
        return min(masks.BODY_MASK_SPACING_MM, coarsest_spacing_mm(self.fixed, self.moving))

    # -- images and masks -----------------------------------------------------
    def images(self, spacing_mm: float, smoothing_mm: float = 0.0) -> tuple[sitk.Image, sitk.Image]:
        """Fixed and moving images at one resolution, each cut to its region of interest.

        The fixed image is cut to the metric mask (no sample falls outside
        it anyway); the moving one to its body (or given mask) plus
        ``CROP_MARGIN_MM``, so points mapped just outside still find air.
        """
        check_cancel(self.cancel)
        key = (float(spacing_mm), float(smoothing_mm))
        if key not in self._cropped:
            fixed = self._fixed_pyramid.image(spacing_mm, smoothing_mm)
            moving = self._moving_pyramid.image(spacing_mm, smoothing_mm)
            fixed_region = self._metric_mask_source()
            if fixed_region is not None:
                fixed = masks.crop_to_box(fixed, *masks.bounding_box(fixed_region))
            moving_region = (_volume_mask(self.moving_mask) if self.moving_mask is not None
                             else self.body_mask("moving"))
            moving = masks.crop_to_box(moving, *masks.bounding_box(moving_region), CROP_MARGIN_MM)
            self._cropped[key] = (fixed, moving)
        return self._cropped[key]

    def _metric_mask_source(self) -> sitk.Image | None:
        """The fixed mask the metric samples in, at the resolution it was made (None: the whole image)."""
        if "metric" not in self._masks:
            if self.fixed_mask is not None:
                self._masks["metric"] = _volume_mask(self.fixed_mask)
            elif self.params.sampling.mask == "body":
                self._masks["metric"] = masks.dilate(self.body_mask("fixed"), self.params.sampling.mask_dilation_mm)
            elif self.params.sampling.mask != "none":
                raise RegistrationError(f"unknown sampling mask {self.params.sampling.mask!r}; use body or none")
        return self._masks.get("metric")

    def body_mask(self, which: str) -> sitk.Image:
        """The fixed or moving body mask at ``mask_spacing_mm`` (cached)."""
        if which not in self._masks:
            check_cancel(self.cancel)
            pyramid = self._fixed_pyramid if which == "fixed" else self._moving_pyramid
            image = pyramid.image(self.mask_spacing_mm)
            volume = self.fixed if which == "fixed" else self.moving
            try:
                self._masks[which] = masks.body_mask(image, masks.body_threshold(image, volume.meta.modality))
            except RegistrationError as exc:
                raise RegistrationError(f"{which} image: {exc.reason}") from exc
        return self._masks[which]

    def centroid(self, which: str) -> np.ndarray:
        """Centre of the body (the caller's mask when given), in LPS."""
        given = self.fixed_mask if which == "fixed" else self.moving_mask
        return masks.centroid(_volume_mask(given) if given is not None else self.body_mask(which))

    def foreground(self, which: str) -> sitk.Image:
        """The caller's mask when given, else the body mask: what the start/end overlap is measured on."""
        given = self.fixed_mask if which == "fixed" else self.moving_mask
        return _volume_mask(given) if given is not None else self.body_mask(which)

    def metric_mask(self, reference: sitk.Image) -> tuple[sitk.Image | None, float]:
        """The fixed mask on ``reference``'s grid and the fraction of the grid it covers."""
        key = (tuple(reference.GetSpacing()), tuple(reference.GetOrigin()))
        if key not in self._level_masks:
            source = self._metric_mask_source()
            if source is None:
                return None, 1.0
            on_grid = masks.mask_on_grid(source, reference)
            fraction = float(sitk.GetArrayViewFromImage(on_grid).mean())
            if fraction == 0:
                raise RegistrationError("the fixed mask does not cover the fixed image")
            self._level_masks[key] = (on_grid, fraction)
        return self._level_masks[key]

    def moving_metric_mask(self, reference: sitk.Image) -> sitk.Image | None:
        if self.moving_mask is None:
            return None
        return masks.mask_on_grid(_volume_mask(self.moving_mask), reference)

    # -- optimisation ---------------------------------------------------------
    def optimise_at(self, transform: sitk.Transform, *, spacing_mm: float, smoothing_mm: float, iterations: int,
                    step_mm: float, sampling_percentage: float, level: int, stage: str = "level",
                    candidate: int | None = None, warp: sitk.Transform | None = None,
                    coefficient_bound: float | None = None) -> LevelRun:
        """Optimise ``transform`` in place at one resolution, reporting each iteration.

        With ``warp`` the moving image is first resampled through it onto the
        fixed grid and ``transform`` is optimised on top (the whole map is
        ``warp`` after ``transform``): how B-spline grids are stacked, since
        ITK cannot differentiate through a B-spline used as a moving initial
        transform.

        ``sampling_percentage`` is a fraction of the voxels inside the fixed
        mask, at least ``fit.MIN_SAMPLES`` points (see ``_level``).
        """
        fixed, moving, mask, moving_mask, setup = self._level(spacing_mm, smoothing_mm, iterations, step_mm,
                                                              sampling_percentage, warp, coefficient_bound)

        def observer(iteration: int, value: float, current: sitk.Transform) -> None:
            if stage == "level":
                self.history.append((level, iteration, value))
            if self.on_iteration is not None:
                whole = current if warp is None else sitk.CompositeTransform([warp, current])
                self.on_iteration(IterationEvent(level, iteration, value, matrix_lps(whole, linear_part=True),
                                                 stage, candidate))

        return optimise(fixed, moving, transform, metric=self.params.metric, optimizer=self.params.optimizer,
                        setup=setup, fixed_mask=mask, moving_mask=moving_mask, observer=observer, cancel=self.cancel)

    def _level(self, spacing_mm: float, smoothing_mm: float, iterations: int, step_mm: float,
               sampling_percentage: float, warp: sitk.Transform | None = None,
               coefficient_bound: float | None = None
               ) -> tuple[sitk.Image, sitk.Image, sitk.Image | None, sitk.Image | None, LevelSetup]:
        """Images, masks and sampling of one resolution (see ``optimise_at``).

        ITK draws its fraction from the whole grid and drops points outside
        the mask, so the fraction handed to it is the asked one over the
        mask's cover, raised where needed to give ``MIN_SAMPLES`` points.
        """
        fixed, moving = self.images(spacing_mm, smoothing_mm)
        mask, cover = self.metric_mask(fixed)
        moving_mask = self.moving_metric_mask(moving)
        if warp is not None:
            background = float(sitk.GetArrayViewFromImage(moving).min())
            moving = sitk.Resample(moving, fixed, warp, sitk.sitkLinear, background)
            moving_mask = None if moving_mask is None else masks.mask_on_grid_through(moving_mask, fixed, warp)
        voxels = float(np.prod(fixed.GetSize()))
        fraction = min(1.0, max(sampling_percentage, MIN_SAMPLES / (voxels * cover)) / cover)
        setup = LevelSetup(iterations=iterations, step_mm=step_mm, sampling_strategy=self.params.sampling.strategy,
                           sampling_percentage=fraction, seed=self.seed, coefficient_bound=coefficient_bound)
        return fixed, moving, mask, moving_mask, setup

    def evaluate_at(self, transform: sitk.Transform, *, spacing_mm: float, smoothing_mm: float,
                    sampling_percentage: float) -> float:
        """The metric of ``transform`` at one resolution, on the run's seeded sample points (lower is better)."""
        fixed, moving, mask, moving_mask, setup = self._level(spacing_mm, smoothing_mm, 0, 1.0, sampling_percentage)
        return evaluate(fixed, moving, transform, metric=self.params.metric, setup=setup, fixed_mask=mask,
                        moving_mask=moving_mask)
