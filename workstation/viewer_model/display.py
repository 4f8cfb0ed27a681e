"""How a volume is shown, as plain numpy: window presets, slice stacks, the oblique crosshair, reslice grids, camera.

The viewer model (``workstation.viewer_model.model``) holds one of each per
slot; widgets turn them into VTK cameras and reslice filters. Tested without
Qt or VTK (napari's split of pure models and thin adapters).

Conventions: positions are LPS mm; a view's plane comes from
``workstation.geometry.STANDARD_AXES`` (radiological convention) turned by
that view's own oblique rotation; "depth" is a distance along a plane normal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from workstation import geometry
from workstation.geometry import Plane, cross3, spacing_along
from workstation.resources import resource
from workstation.volume import Volume, WindowPreset

VIEW_NAMES = ("axial", "coronal", "sagittal")
AUTO_PRESET = "Auto"
SLAB_MODES = ("none", "mip", "minip", "mean")


# -- window / level ---------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """A display window in the volume's units: values below ``lower`` are black, above ``upper`` white."""

    center: float
    width: float

    @property
    def lower(self) -> float:
        return self.center - self.width / 2

    @property
    def upper(self) -> float:
        return self.center + self.width / 2

    def adjusted(self, d_center: float, d_width: float) -> Window:
        """The window after a drag; the width never reaches zero (a zero width divides by zero in a LUT)."""
        return Window(self.center + d_center, max(self.width + d_width, 1e-3))


def window_from_percentiles(array: np.ndarray, low: float, high: float, max_samples: int = 2_000_000) -> Window:
    """A window spanning two percentiles of the voxel values.

    MR and PET have no absolute scale, so their default window comes from the
    data. A strided sample (a view, no copy) keeps this fast on big volumes.
    """
    flat = array.reshape(-1)
    sample = flat[:: max(1, flat.size // max_samples)]
    lo, hi = (float(x) for x in np.percentile(sample, [low, high]))
    if hi <= lo:
        hi = lo + 1.0
    return Window((lo + hi) / 2, hi - lo)


@cache
def _window_table() -> dict:
    with open(resource("presets", "window_presets.json"), encoding="utf-8") as f:
        return json.load(f)


def _modality_entry(modality: str) -> dict:
    table = _window_table()["modalities"]
    return table.get(modality.upper(), table["default"])


def modality_presets(modality: str) -> list[WindowPreset]:
    """The named presets of a modality (CT brain, lung, ...), from ``resources/presets/window_presets.json``."""
    return [WindowPreset(p["name"], float(p["center"]), float(p["width"]))
            for p in _modality_entry(modality).get("presets", [])]


def preset_names(volume: Volume) -> list[str]:
    """Every preset a user may pick for this volume: header, modality, then automatic."""
    return [p.name for p in volume.meta.window_presets] + [p.name for p in modality_presets(volume.meta.modality)] + [
        AUTO_PRESET]


def preset_window(volume: Volume, name: str) -> Window:
    """The window of a named preset; the header's presets win over the modality's of the same name."""
    for preset in [*volume.meta.window_presets, *modality_presets(volume.meta.modality)]:
        if preset.name.lower() == name.lower():
            return Window(preset.center, preset.width)
    if name.lower() == AUTO_PRESET.lower():
        low, high = _modality_entry(volume.meta.modality)["auto_percentiles"]
        return window_from_percentiles(volume.array, low, high)
    raise KeyError(f"no window preset {name!r} for modality {volume.meta.modality or 'unknown'}")


FOREGROUND_PERCENTILES = (0.5, 99.5)
SATURATED_SHARE = 0.5
"""A header window that makes more than this share of the foreground white is not a first window (dark
tissue below a CT window is normal reading, so only the white side counts)."""


def foreground(array: np.ndarray, max_samples: int = 2_000_000) -> np.ndarray:
    """A strided sample of the voxels above the mean: the object, not the air around it (MR, CT alike)."""
    flat = array.reshape(-1)
    sample = flat[:: max(1, flat.size // max_samples)].astype(np.float64)
    inside = sample[sample > sample.mean()]
    return inside if inside.size >= 100 else sample


def foreground_window(volume: Volume) -> Window:
    """A window over the foreground's percentiles: the object's own range, whatever the header says."""
    lo, hi = (float(x) for x in np.percentile(foreground(volume.array), FOREGROUND_PERCENTILES))
    return Window((lo + hi) / 2, max(hi - lo, 1e-3))


def saturates(window: Window, volume: Volume) -> bool:
    """Whether ``window`` shows most of the foreground as one flat white."""
    return bool(np.mean(foreground(volume.array) >= window.upper) > SATURATED_SHARE)


def default_window(volume: Volume) -> Window:
    """The window a series opens with: the header's first preset, the modality's default, or automatic.

    A header window is trusted only when every slice states the same one and
    it leaves the foreground readable: the cirs057a MR's slices say 2/5 ...
    6/12 while its values reach 19, which would open a white block. Then the
    first window comes from the foreground's percentiles; the header's
    windows stay in the presets.
    """
    if volume.meta.window_presets:
        first = volume.meta.window_presets[0]
        header = Window(first.center, first.width)
        if volume.meta.extra.get("header_windows_vary") or saturates(header, volume):
            return foreground_window(volume)
        return header
    return preset_window(volume, _modality_entry(volume.meta.modality).get("default", AUTO_PRESET))


# -- grid geometry along arbitrary directions ------------------------------------------
def _corner_points(volume: Volume) -> np.ndarray:
    """LPS centres of the 8 corner voxels."""
    ni, nj, nk = volume.shape_ijk
    corners = np.array([[i, j, k] for i in (0, ni - 1) for j in (0, nj - 1) for k in (0, nk - 1)], dtype=np.float64)
    return volume.index_to_world(corners)


@dataclass(frozen=True)
class SliceStack:
    """The slices of a volume along one plane normal: first depth, spacing, count (depths along ``normal``)."""

    normal: tuple[float, float, float]
    first: float
    step: float
    count: int

    @classmethod
    def of(cls, volume: Volume, normal: np.ndarray) -> SliceStack:
        n = np.asarray(normal, dtype=np.float64)
        depths = _corner_points(volume) @ n
        step = spacing_along(volume.affine, n)
        count = int(round((depths.max() - depths.min()) / step)) + 1
        return cls(tuple(map(float, n)), float(depths.min()), step, count)

    def index_of(self, point: np.ndarray) -> int:
        """0-based slice nearest to an LPS point (may lie outside 0..count-1)."""
        return int(round((np.asarray(point, dtype=np.float64) @ np.asarray(self.normal) - self.first) / self.step))

    def depth(self, index: int) -> float:
        return self.first + index * self.step

    def snapped(self, point: np.ndarray, slices: int = 0) -> np.ndarray:
        """``point`` moved along the normal onto the centre of the slice ``slices`` steps from its nearest one.

        Snapping keeps an axis-aligned view on voxel centres, so nearest and
        linear interpolation show the stored slice and "slice n of N" is exact.
        """
        p = np.asarray(point, dtype=np.float64)
        index = int(np.clip(self.index_of(p) + slices, 0, self.count - 1))
        return p + (self.depth(index) - p @ np.asarray(self.normal)) * np.asarray(self.normal)


# -- the linked crosshair and oblique axes -------------------------------------------------
_EYE = np.eye(3)
_EYE_TOLERANCE = 1e-8 + 1e-5 * _EYE
"""``np.allclose``'s tolerance of a rotation against the identity (absolute 1e-8, relative 1e-5)."""


def _identity_rotations() -> dict[str, np.ndarray]:
    return {name: np.eye(3) for name in VIEW_NAMES}


@dataclass
class MprState:
    """Linked crosshair of the three MPR views: one LPS point, one oblique rotation per view.

    Rotating the crosshair in a view turns the other two planes about that
    view's normal and leaves the view itself still, as in Horos or Slicer;
    the three planes stay mutually perpendicular.
    """

    position: np.ndarray
    rotations: dict[str, np.ndarray] = field(default_factory=_identity_rotations)

    @classmethod
    def centred(cls, volume: Volume) -> MprState:
        return cls(volume.center())

    def plane(self, name: str) -> Plane:
        """The view's plane through the crosshair (right and down are screen directions)."""
        right, down = geometry.STANDARD_AXES[name]
        r = self.rotations[name]
        return Plane(tuple(map(float, self.position)), tuple(r @ right), tuple(r @ down))

    def rotate(self, in_view: str, degrees: float) -> None:
        """Turn the crosshair axes drawn in ``in_view`` by ``degrees`` (clockwise on screen)."""
        turn = geometry.rotation_matrix(self.plane(in_view).normal, degrees)
        for name in VIEW_NAMES:
            if name != in_view:
                self.rotations[name] = turn @ self.rotations[name]

    def reset_rotations(self) -> None:
        self.rotations = _identity_rotations()

    @property
    def oblique(self) -> bool:
        """Whether any view is turned (``np.allclose`` to the identity, written out: a slice step asks)."""
        return any(np.any(np.abs(r - _EYE) > _EYE_TOLERANCE) for r in self.rotations.values())

    def crosshair_directions(self, name: str) -> dict[str, tuple[float, float]]:
        """Screen (right, down) unit directions of the other views' lines in view ``name``.

        Each line is where another view's plane cuts this one: along the cross
        product of the two normals.
        """
        plane = self.plane(name)
        lines = {}
        for other in VIEW_NAMES:
            if other == name:
                continue
            d = cross3(plane.normal, self.plane(other).normal)
            if np.linalg.norm(d) < 1e-6:
                continue
            d = d / np.linalg.norm(d)
            lines[other] = (float(d @ plane.right), float(d @ plane.down))
        return lines


def display_plane(volume: Volume, plane: Plane, stack: SliceStack | None = None) -> Plane:
    """The plane a view reslices: same axes, its centre the volume centre's projection, on a slice centre.

    Anchoring the in-plane origin to the volume (not the crosshair) keeps the
    image still when the crosshair moves within the view; snapping the depth
    shows a stored slice rather than a blend of two. ``stack``: the volume's
    slices along the plane's normal, if the caller has them (a view keeps
    them while its plane only moves).
    """
    n = plane.normal
    c = volume.center()
    anchored = c + ((np.asarray(plane.center) - c) @ n) * n
    snapped = (stack if stack is not None else SliceStack.of(volume, n)).snapped(anchored)
    return plane.moved(snapped)


@dataclass(frozen=True)
class SliceGrid:
    """The reslice output grid in plane coordinates: origin (u, v), spacing (su, sv), size (nu, nv)."""

    origin: tuple[float, float]
    spacing: tuple[float, float]
    size: tuple[int, int]

    @classmethod
    def covering(cls, volume: Volume, plane: Plane) -> SliceGrid:
        """A grid over the whole volume's footprint, at the volume's own resolution along right and down.

        The grid is offset so that, in an axis-aligned plane, its samples fall
        on voxel centres: an unrotated view shows the stored pixels.
        """
        corners = _corner_points(volume)
        rel = corners - np.asarray(plane.center)
        u, v = rel @ np.asarray(plane.right), rel @ np.asarray(plane.down)
        su, sv = spacing_along(volume.affine, plane.right), spacing_along(volume.affine, plane.down)
        nu, nv = int(round((u.max() - u.min()) / su)) + 1, int(round((v.max() - v.min()) / sv)) + 1
        return cls((float(u.min()), float(v.min())), (su, sv), (nu, nv))

    @property
    def half_extent(self) -> tuple[float, float]:
        """Half the width and height in mm, counting each sample's own pixel."""
        return self.size[0] * self.spacing[0] / 2, self.size[1] * self.spacing[1] / 2

    @property
    def middle(self) -> tuple[float, float]:
        return (self.origin[0] + (self.size[0] - 1) * self.spacing[0] / 2,
                self.origin[1] + (self.size[1] - 1) * self.spacing[1] / 2)


# -- per-view camera and slab ------------------------------------------------------------
@dataclass
class Camera2D:
    """Zoom (1 = the slice fits the view) and pan (plane mm of the view centre) of a 2D view."""

    zoom: float = 1.0
    pan: tuple[float, float] | None = None

    def zoomed(self, factor: float) -> Camera2D:
        return Camera2D(float(np.clip(self.zoom * factor, 0.05, 50.0)), self.pan)


def slab_slices(thickness_mm: float, step_mm: float) -> int:
    """Number of slices a thick slab of ``thickness_mm`` spans at ``step_mm`` (odd, at least 1, centred)."""
    n = max(1, int(round(thickness_mm / step_mm)))
    return n if n % 2 else n + 1


def nice_length(max_mm: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``max_mm`` (scale bars)."""
    if max_mm <= 0:
        raise ValueError("a scale bar needs a positive length")
    power = 10.0 ** np.floor(np.log10(max_mm))
    return float(max(m * power for m in (1, 2, 5) if m * power <= max_mm))
