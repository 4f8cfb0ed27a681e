"""Typed registration parameters that round-trip through JSON, and the presets stored as data.

A run is replayable only if everything that shaped it is written down: the
resolution levels, how the metric samples, the optimiser and its scales, the
transform and the orientation search. These dataclasses are that record;
``RegistrationResult.parameters`` carries the exact object a run used, and
presets in ``resources/presets/*.json`` are the same objects as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from workstation.errors import RegistrationError
from workstation.resources import resource

PRESET_FORMAT = "workstation-registration/1"
"""Marks a JSON file in ``resources/presets`` as a registration preset (the folder also holds display presets)."""


@dataclass
class LevelSettings:
    """One resolution level: images bin-shrunk to about ``spacing_mm`` then smoothed.

    Levels are given in millimetres, not shrink factors, because the fixed and
    moving images rarely share a voxel size: a CT at 0.66 mm and an MR at
    1.19 mm are each shrunk by their own integer factor to land near the same
    physical resolution.
    """

    spacing_mm: float
    smoothing_mm: float = 0.0
    iterations: int = 100
    step_mm: float = 2.0
    sampling_percentage: float = 0.05
    grid_spacing_mm: float | None = None  # B-spline control point spacing at this level


@dataclass
class SamplingSettings:
    """Which fixed-image points feed the metric.

    ``strategy`` is ``random`` (seeded, so runs replay), ``regular`` or
    ``none`` (every voxel). ``mask`` is ``body`` (threshold + largest
    component + fill, so air and the scanner table do not drive the metric)
    or ``none``; a caller's own fixed mask overrides it.
    """

    strategy: str = "random"
    mask: str = "body"
    mask_dilation_mm: float = 4.0


@dataclass
class OptimizerSettings:
    """The local optimiser; ``scales`` is ``physical_shift`` or one number per transform parameter."""

    kind: str = "regular_step"  # regular_step | gradient_descent | lbfgsb
    min_step_mm: float = 0.01
    relaxation: float = 0.7
    gradient_tolerance: float = 1e-8
    scales: str | list[float] = "physical_shift"


@dataclass
class MetricSettings:
    """The similarity metric: ``mattes`` (multi-modal), ``correlation``, ``ants_correlation``, ``mean_squares``."""

    kind: str = "mattes"
    bins: int = 32
    radius: int = 2  # neighbourhood radius of ants_correlation


@dataclass
class TransformSettings:
    """What moves: ``rigid``, ``similarity``, ``affine`` or ``bspline``.

    For ``bspline`` every level adds its own B-spline grid
    (``LevelSettings.grid_spacing_mm``, coarse to fine) composed on top of
    the previous ones; ``bulk_preset`` names the rigid or affine preset run
    first when the caller gives no initial transform, so the deformable stage
    only fixes what a bulk motion cannot. The regularisation is
    ``max_coefficient_fraction``: each control point may move at most that
    fraction of its grid spacing (an L-BFGS-B bound), which keeps a cubic
    B-spline one-to-one below 0.4 (Choi and Lee 2000), so the composed map
    cannot fold.
    """

    kind: str = "rigid"
    bulk_preset: str | None = None
    spline_order: int = 3
    max_coefficient_fraction: float = 0.4


@dataclass
class SearchSettings:
    """The global orientation search used by ``init="search"`` (and by ``"auto"`` when enabled).

    All starts (the 24 axis-aligned turns of a cube about the centres of the
    body masks, plus the scanner placement) are optimised for a few
    iterations at ``spacing_mm`` and scored; the best ``keep`` are
    optimised further at ``refine_spacing_mm``; those within ``tie_margin``
    (relative metric) of the best are compared again at
    ``check_spacing_mm`` before one is chosen, because a near tie at a coarse
    level can flip once the images are sharp enough. Sampling fractions are
    of the voxels inside the fixed mask.

    The scanner placement is carried through every stage whatever its
    coarse score, and another start replaces it only when its metric at the
    last stage is better by ``clear_margin`` (relative): on a small field of
    view a wrong turn can score a little better at a coarse level by
    overlapping less, and the scanner placement is right more often than not.
    """

    enabled: bool = True
    spacing_mm: float = 8.0
    iterations: int = 10
    step_mm: float = 8.0
    sampling: float = 0.15
    keep: int = 3
    refine_spacing_mm: float = 4.0
    refine_iterations: int = 60
    refine_step_mm: float = 4.0
    refine_sampling: float = 0.1
    tie_margin: float = 0.1
    check_spacing_mm: float = 2.0
    check_iterations: int = 40
    check_step_mm: float = 2.0
    check_sampling: float = 0.02
    clear_margin: float = 0.05


@dataclass
class RegistrationParameters:
    """Everything that defines a registration run, except the images, seed and thread count."""

    format: str = PRESET_FORMAT
    name: str = "custom"
    description: str = ""
    method: str = "intensity"  # intensity | landmarks
    levels: list[LevelSettings] = field(default_factory=list)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    metric: MetricSettings = field(default_factory=MetricSettings)
    transform: TransformSettings = field(default_factory=TransformSettings)
    search: SearchSettings = field(default_factory=SearchSettings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegistrationParameters:
        """Parameters from a dict such as ``to_dict()`` wrote; unknown keys are an error, missing ones default."""
        return _build(cls, data, "parameters")

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> RegistrationParameters:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RegistrationError(f"registration parameters are not valid JSON ({exc})") from exc
        return cls.from_dict(data)


def _build(cls: type, data: Any, where: str) -> Any:
    """A dataclass from nested dicts, checking names so a typo in a preset is an error, not a silent default."""
    if not isinstance(data, dict):
        raise RegistrationError(f"{where}: expected an object, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RegistrationError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if is_dataclass(hint):
            values[name] = _build(hint, value, f"{where}.{name}")
        elif get_origin(hint) is list and is_dataclass(get_args(hint)[0]):
            values[name] = [_build(get_args(hint)[0], item, f"{where}.{name}[{i}]") for i, item in enumerate(value)]
        else:
            values[name] = value
    return cls(**values)


def _is_preset(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == PRESET_FORMAT


def list_presets() -> list[str]:
    """Names of the registration presets shipped in ``resources/presets``."""
    return sorted(p.stem for p in resource("presets").glob("*.json") if _is_preset(p))


def load_preset(name: str) -> RegistrationParameters:
    """The named preset, e.g. ``load_preset("ct-mr-rigid")``."""
    path = resource("presets", f"{name}.json")
    if not _is_preset(path):
        raise RegistrationError(f"unknown registration preset {name!r}; known: {', '.join(list_presets())}")
    params = RegistrationParameters.from_json(path.read_text(encoding="utf-8"))
    params.name = name
    return params
