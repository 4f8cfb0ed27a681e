"""What a slot of the viewer shows besides its crosshair and window: the layers, each with its own events.

- ``ImageLayer``: the slot's volume (a DICOM series or an image file) and where it came from.
- ``FusedLayer``: a moving volume drawn over the image through a fixed->moving LPS matrix (ITK's
  convention: a fixed-space point ``x`` is read from the moving volume at ``M @ x``), with fusion settings.
- ``LabelsLayer``: a ``workstation.labels.LabelMap`` on the image's grid.
- ``MeasurementsLayer``: rulers, angles and regions of the slot, and the selected one.
- ``LandmarksLayer``: point pairs, each in its own image's frame, and their errors under a transform.

Layers are plain objects that emit ``changed`` when they change; the widgets that draw them subscribe.
numpy only: no Qt, no VTK.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from psygnal import Signal

from workstation import measurements as mm
from workstation.labels import LabelMap
from workstation.viewer_model.display import AUTO_PRESET, Window, preset_window
from workstation.volume import Volume, same_grid

FUSION_MODES = ("blend", "overlay", "checkerboard", "difference")
OVERLAY_COLORMAP = "Hot iron"


@dataclass(frozen=True)
class ImageLayer:
    """The slot's volume; ``source`` names it (a catalogue key or a file path), ``complete`` is False while loading.

    Frozen: a finished load replaces the layer (same voxels, finished metadata) rather than editing it.
    """

    volume: Volume
    source: str = ""
    complete: bool = True


@dataclass(frozen=True)
class FusionSettings:
    """How the fused image is combined; ``opacity`` is the weight of the image on top (0 shows only the other)."""

    mode: str = "blend"
    opacity: float = 0.5
    square_mm: float = 20.0
    swap: bool = False  # False: moving on top (it is blended, coloured or drawn in the odd squares)
    moving_window: Window | None = None  # None: the moving volume's own window (``FusedLayer.window``)
    overlay_colormap: str = OVERLAY_COLORMAP

    def __post_init__(self) -> None:
        if self.mode not in FUSION_MODES:
            raise ValueError(f"unknown fusion mode {self.mode!r}; expected one of {', '.join(FUSION_MODES)}")
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"opacity must be within 0..1, got {self.opacity}")
        if self.square_mm <= 0:
            raise ValueError(f"checkerboard squares must be larger than 0 mm, got {self.square_mm}")

    def with_(self, **changes: object) -> FusionSettings:
        return replace(self, **changes)


def auto_window(volume: Volume) -> Window:
    """The moving image's window in a fusion: from its values, not its header.

    Header windows are made for viewing one series alone and are sometimes
    meaningless (the cirs057a MR says centre 3, width 6); a fusion needs the
    moving image's own range, so both images show their anatomy.
    """
    return preset_window(volume, AUTO_PRESET)


class FusedLayer:
    """A moving volume over the slot's image, through ``matrix`` (fixed -> moving, LPS).

    ``labels``: the moving image's own labels (a map on its grid), drawn
    through the same matrix, nearest neighbour; kept here, with the
    transform they move by, so they go wherever the moving image goes.
    ``deformed_labels``: those labels already resampled through a deformable
    transform onto the grid of a deformable result's ``volume`` (drawn
    through the identity ``matrix`` it comes with). ``shown_labels`` is the
    one of the two on the shown volume's grid (None while neither is: a
    Jacobian or displacement map).

    ``changed(live)``: ``live`` is True for the optimiser's updates during a
    run, which the views may spread over several event-loop turns.
    """

    changed = Signal(bool)

    def __init__(self, volume: Volume, matrix: np.ndarray | None = None,
                 settings: FusionSettings | None = None, labels: LabelsLayer | None = None,
                 deformed_labels: LabelsLayer | None = None) -> None:
        self.volume = volume
        self.window = auto_window(volume)
        self.matrix = np.eye(4) if matrix is None else np.array(matrix, dtype=np.float64)
        self.settings = settings or FusionSettings()
        self.labels = labels
        self.deformed_labels = deformed_labels

    def set_labels(self, labels: LabelsLayer | None) -> None:
        """The moving image's labels, on its grid (None: none)."""
        self.labels = labels
        self.changed.emit(False)

    @property
    def moving_window(self) -> Window:
        return self.settings.moving_window or self.window

    @property
    def shown_labels(self) -> LabelsLayer | None:
        """The labels to draw through ``matrix``: those on the grid of the volume shown (deformed ones first)."""
        for layer in (self.deformed_labels, self.labels):
            if layer is not None and same_grid(layer.labels.volume, self.volume):
                return layer
        return None

    def set_matrix(self, matrix: np.ndarray, live: bool = False) -> None:
        self.matrix = np.array(matrix, dtype=np.float64)
        self.changed.emit(live)

    def set_settings(self, settings: FusionSettings) -> None:
        self.settings = settings
        self.changed.emit(False)


class LabelsLayer:
    """A label map drawn over the slot's image; the segments' own colours and visibility say how.

    ``changed``: segments, colours, opacity or visibility; ``voxels(region)``:
    voxels changed in place within a (k, j, i) box of slices (None: anywhere),
    so views whose slice misses the box are not redrawn.
    """

    changed = Signal()
    voxels = Signal(object)

    def __init__(self, labels: LabelMap, opacity: float = 1.0, visible: bool = True) -> None:
        """``opacity`` scales every segment's own (a segment's fill is drawn at its opacity times this)."""
        self.labels, self.opacity, self.visible = labels, opacity, visible

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(np.clip(opacity, 0.0, 1.0))
        self.changed.emit()

    def set_visible(self, visible: bool) -> None:
        self.visible = bool(visible)
        self.changed.emit()

    def voxels_changed(self, region: tuple[slice, slice, slice] | None = None) -> None:
        """A tool wrote into ``labels.array`` in place (within ``region`` when given): redraw."""
        self.voxels.emit(region)

    def segments_changed(self) -> None:
        """A segment was added, removed, renamed, recoloured, hidden or shown: redraw."""
        self.changed.emit()


class MeasurementsLayer:
    """The slot's measurements (of its series) and the selected one's uid."""

    changed = Signal()

    def __init__(self) -> None:
        self.items: list[mm.Measurement] = []
        self.selected: str | None = None

    def set(self, items: list[mm.Measurement]) -> None:
        self.items = list(items)
        if self.selected not in {m.uid for m in self.items}:
            self.selected = None
        self.changed.emit()

    def add(self, m: mm.Measurement) -> None:
        """Add a measurement, or replace the one with the same uid (an edit); it becomes the selected one."""
        self.items = [x for x in self.items if x.uid != m.uid] + [m]
        self.selected = m.uid
        self.changed.emit()

    def delete(self, uid: str) -> bool:
        if not any(m.uid == uid for m in self.items):
            return False
        self.set([m for m in self.items if m.uid != uid])
        return True

    def select(self, uid: str | None) -> None:
        self.selected = uid
        self.changed.emit()


def map_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """LPS points (n, 3) through a 4x4 matrix."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return p @ np.asarray(matrix)[:3, :3].T + np.asarray(matrix)[:3, 3]


class LandmarksLayer:
    """Landmark pairs: fixed points in the fixed frame, moving points in the moving frame, optional names.

    Why each in its own frame: a moving landmark belongs to the moving image,
    so what is stored does not change when the transform does. A click meant
    for the moving image is placed through the transform shown at that moment.
    """

    changed = Signal()

    def __init__(self, fixed: np.ndarray | None = None, moving: np.ndarray | None = None,
                 names: list[str] | None = None) -> None:
        self.fixed = np.zeros((0, 3)) if fixed is None else np.asarray(fixed, dtype=np.float64).reshape(-1, 3)
        self.moving = np.zeros((0, 3)) if moving is None else np.asarray(moving, dtype=np.float64).reshape(-1, 3)
        self.names = list(names) if names is not None else None

    @property
    def next_is_fixed(self) -> bool:
        return len(self.fixed) <= len(self.moving)

    def place(self, fixed_point: np.ndarray, matrix: np.ndarray) -> str:
        """Store a click (fixed-space LPS) as the next landmark, fixed and moving in turn; returns which."""
        p = np.asarray(fixed_point, dtype=np.float64).reshape(1, 3)
        kind = "fixed" if self.next_is_fixed else "moving"
        if kind == "fixed":
            self.fixed = np.vstack([self.fixed, p])
        else:
            self.moving = np.vstack([self.moving, map_points(matrix, p)])
        self.names = None
        self.changed.emit()
        return kind

    def clear(self) -> None:
        self.fixed, self.moving, self.names = np.zeros((0, 3)), np.zeros((0, 3)), None
        self.changed.emit()

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The complete pairs (an unpaired last fixed point is left out)."""
        n = min(len(self.fixed), len(self.moving))
        return self.fixed[:n], self.moving[:n]

    def moving_in_fixed(self, matrix: np.ndarray) -> np.ndarray:
        """The moving landmarks where they show in the fused fixed views: through the inverse of ``matrix``."""
        return map_points(np.linalg.inv(matrix), self.moving)

    def errors(self, matrix: np.ndarray) -> np.ndarray:
        """Per pair, mm between where ``matrix`` sends the fixed landmark and its moving pair (the TRE's terms)."""
        fixed, moving = self.pairs()
        return np.linalg.norm(map_points(matrix, fixed) - moving, axis=1)
