"""The viewer model: everything the viewer shows, held once, evented, without Qt or VTK.

napari's shape: this model is the state; widgets subscribe to its signals
and draw; the main window and the controllers only change it. Two slots
(0: the main series, 1: a second series beside it) each hold their layers
(``workstation.viewer_model.layers``), crosshair and oblique axes, window,
colour map, interpolation, slab, time point and one 2D camera per view.
Viewer-wide: links between the slots (position, zoom/pan, window), the
patient-identity switch, crosshair and annotation visibility, and the
active measurement tool. Linking happens here, so a test can check it
without a window.

Signals carry no state: a subscriber reads what it needs from the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from workstation import measurements as mm
from workstation.viewer_model.display import (
    SLAB_MODES,
    VIEW_NAMES,
    Camera2D,
    MprState,
    SliceStack,
    Window,
    default_window,
    preset_names,
    preset_window,
)
from workstation.viewer_model.layers import FusedLayer, ImageLayer, LabelsLayer, LandmarksLayer, MeasurementsLayer
from workstation.volume import Volume

SLOTS = 2
LINK_NAMES = ("position", "zoom", "window")
TOOLS = (None, *mm.KINDS)


@dataclass
class Links:
    """What follows between the two slots: crosshair position, zoom and pan, window."""

    position: bool = True
    zoom: bool = True
    window: bool = False


class Slot:
    """One series on screen with its layers and display state; see the module docstring.

    Signals: ``image`` (a new image, or none), ``voxels(complete)`` (the
    image's array changed in place: a loader filling it), ``planes`` (crosshair
    or oblique axes), ``display`` (window, colour map, invert, interpolation,
    slab, time point), ``camera(view_name)``, ``layers`` (fused, labels or
    landmarks layer added or removed). The measurements layer has its own.
    """

    image = Signal()
    voxels = Signal(bool)
    planes = Signal()
    display = Signal()
    camera = Signal(str)
    layers = Signal()

    def __init__(self) -> None:
        self.image_layer: ImageLayer | None = None
        self.state: MprState | None = None
        self.window = Window(40, 400)
        self.window_is_default = True
        self.colormap = "Grey"
        self.invert = False
        self.interpolation = True
        self.slab: tuple[str, float] = ("none", 0.0)
        self.time_point = 0
        self.cameras: dict[str, Camera2D] = {name: Camera2D() for name in VIEW_NAMES}
        self.measurements = MeasurementsLayer()
        self.fused: FusedLayer | None = None
        self.labels: LabelsLayer | None = None
        self.landmarks: LandmarksLayer | None = None

    @property
    def volume(self) -> Volume | None:
        return self.image_layer.volume if self.image_layer is not None else None

    @property
    def source(self) -> str:
        return self.image_layer.source if self.image_layer is not None else ""

    def stack(self, view: str) -> SliceStack:
        """The slices of the image along ``view``'s plane normal."""
        return SliceStack.of(self.volume, self.state.plane(view).normal)

    def slice_number(self, view: str) -> tuple[int, int]:
        """(n, N): the 1-based slice of the crosshair along a view's normal, of N."""
        stack = self.stack(view)
        return int(np.clip(stack.index_of(self.state.position), 0, stack.count - 1)) + 1, stack.count

    def probe(self, lps: np.ndarray) -> dict:
        """What the pixel probe reports at an LPS point: position, voxel index, value (at the time point), units."""
        v = self.volume
        ijk = np.rint(v.world_to_index(lps)).astype(int)
        inside = bool(np.all(ijk >= 0) and np.all(ijk < np.asarray(v.shape_ijk)))
        return {"lps": np.asarray(lps, dtype=np.float64), "ijk": tuple(int(x) for x in ijk) if inside else None,
                "value": v.value_at(lps, self.time_point) if inside else None,
                "units": v.meta.units or v.meta.modality, "time_point": self.time_point}

    def values_over_time(self, lps: np.ndarray) -> np.ndarray | None:
        """The voxel's value at every time point (a 4D probe plot), None outside the volume."""
        v = self.volume
        ijk = np.rint(v.world_to_index(lps)).astype(int)
        if not (np.all(ijk >= 0) and np.all(ijk < np.asarray(v.shape_ijk))):
            return None
        i, j, k = ijk
        return np.asarray(v.array[..., k, j, i], dtype=np.float64).reshape(-1)


class ViewerModel:
    """The two slots and the viewer-wide switches, with the operations that link slots."""

    hide_identity_changed = Signal(bool)
    tool_changed = Signal(object)
    links_changed = Signal()
    overlays_changed = Signal()  # crosshair or annotation visibility

    def __init__(self) -> None:
        self.slots = tuple(Slot() for _ in range(SLOTS))
        self.links = Links()
        self.hide_identity = False
        self.tool: str | None = None
        self.crosshair_visible = True
        self.annotations_visible = True

    def slot(self, n: int = 0) -> Slot:
        return self.slots[n]

    def volume(self, slot: int = 0) -> Volume | None:
        return self.slots[slot].volume

    def shown(self) -> list[int]:
        """The slots that show an image."""
        return [n for n, s in enumerate(self.slots) if s.image_layer is not None]

    def _linked(self, slot: int, link: str) -> list[int]:
        others = [n for n in self.shown() if n != slot]
        return [slot, *others] if getattr(self.links, link) else [slot]

    # -- images ----------------------------------------------------------------------------------
    def set_image(self, volume: Volume, slot: int = 0, source: str = "", complete: bool = True) -> None:
        """Show ``volume`` in ``slot``: centred (or on the linked crosshair), default window, cameras kept zoomed.

        Measurements of another series are dropped; fused, labels and landmark
        layers belong to the image they were made on and go with it.
        """
        s = self.slots[slot]
        s.image_layer = ImageLayer(volume, source, complete)
        s.state = MprState.centred(volume)
        others = [n for n in self.shown() if n != slot]
        if self.links.position and others:
            s.state.position = self.slots[others[0]].state.position.copy()
        s.window, s.window_is_default = default_window(volume), True
        s.time_point = min(s.time_point, volume.timepoints - 1)
        s.cameras = {name: Camera2D(c.zoom) for name, c in s.cameras.items()}
        had_layers = any(x is not None for x in (s.fused, s.labels, s.landmarks))
        s.fused = s.labels = s.landmarks = None
        s.image.emit()
        s.measurements.set([m for m in s.measurements.items if m.series_uid == volume.meta.series_uid])
        if had_layers:
            s.layers.emit()

    def complete_image(self, volume: Volume, slot: int = 0) -> None:
        """The load shown as a preview finished: the same voxels, now all there, with the final metadata.

        The opening window of a series without header presets comes from its
        values, most of which were not decoded at the first slice: it is made
        again now, unless the user has changed it meanwhile.
        """
        s = self.slots[slot]
        s.image_layer = ImageLayer(volume, s.source, True)
        if s.window_is_default:
            s.window = default_window(volume)
            s.display.emit()
        s.voxels.emit(True)

    def voxels_modified(self, slot: int = 0) -> None:
        """More slices of a loading image arrived (its array is filled in place)."""
        self.slots[slot].voxels.emit(False)

    def clear_slot(self, slot: int) -> None:
        s = self.slots[slot]
        s.image_layer, s.state = None, None
        s.fused = s.labels = s.landmarks = None
        s.image.emit()

    def showing(self, source: str, slot: int = 0, loading: bool | None = None) -> bool:
        """Whether ``slot`` shows the image named ``source`` (and, if given, still loading or not)."""
        layer = self.slots[slot].image_layer
        return layer is not None and layer.source == source and (loading is None or layer.complete != loading)

    # -- layers ------------------------------------------------------------------------------------
    def set_fused(self, layer: FusedLayer | None, slot: int = 0) -> None:
        self.slots[slot].fused = layer
        self.slots[slot].layers.emit()

    def set_labels(self, layer: LabelsLayer | None, slot: int = 0) -> None:
        self.slots[slot].labels = layer
        self.slots[slot].layers.emit()

    def set_landmarks(self, layer: LandmarksLayer | None, slot: int = 0) -> None:
        self.slots[slot].landmarks = layer
        self.slots[slot].layers.emit()

    # -- crosshair and slices ----------------------------------------------------------------------
    def set_position(self, lps: np.ndarray, slot: int = 0) -> None:
        """Move the crosshair to an LPS point; linked slots follow."""
        lps = np.asarray(lps, dtype=np.float64).reshape(3)
        for n in self._linked(slot, "position"):
            self.slots[n].state.position = lps.copy()
            self.slots[n].planes.emit()

    def position(self, slot: int = 0) -> np.ndarray:
        return self.slots[slot].state.position.copy()

    def step_slice(self, view: str, slices: int, slot: int = 0) -> None:
        """Move the crosshair ``slices`` slices along a view's normal, onto slice centres (clamped)."""
        s = self.slots[slot]
        self.set_position(s.stack(view).snapped(s.state.position, slices), slot)

    def rotate_crosshair(self, view: str, degrees: float, slot: int = 0) -> None:
        """Oblique MPR: turn the axes seen in ``view``; the other two planes turn, their pans start again."""
        s = self.slots[slot]
        s.state.rotate(view, degrees)
        for name in VIEW_NAMES:
            if name != view:
                s.cameras[name] = Camera2D(s.cameras[name].zoom)
        s.planes.emit()

    def reset(self, slot: int = 0) -> None:
        """Crosshair to the volume centre, no obliquity, zoom 1 and no pan, in linked slots too."""
        for n in self._linked(slot, "position"):
            s = self.slots[n]
            s.state = MprState.centred(s.volume)
            s.cameras = {name: Camera2D() for name in VIEW_NAMES}
            s.planes.emit()
            for name in VIEW_NAMES:
                s.camera.emit(name)

    # -- cameras -----------------------------------------------------------------------------------
    def set_camera(self, view: str, camera: Camera2D, slot: int = 0) -> None:
        """Zoom and pan of one view; the same view of a zoom-linked slot follows."""
        for n in self._linked(slot, "zoom"):
            self.slots[n].cameras[view] = Camera2D(camera.zoom, camera.pan)
            self.slots[n].camera.emit(view)

    # -- display -----------------------------------------------------------------------------------
    def set_window(self, center: float, width: float, slot: int = 0) -> None:
        for n in self._linked(slot, "window"):
            s = self.slots[n]
            s.window, s.window_is_default = Window(float(center), max(float(width), 1e-3)), False
            s.display.emit()

    def window(self, slot: int = 0) -> Window:
        return self.slots[slot].window

    def preset_names(self, slot: int = 0) -> list[str]:
        """Header presets, the modality's presets, then 'Auto'."""
        return preset_names(self.slots[slot].volume)

    def apply_preset(self, name: str, slot: int = 0) -> None:
        w = preset_window(self.slots[slot].volume, name)
        self.set_window(w.center, w.width, slot)

    def _display(self, slot: int, **changes: object) -> None:
        s = self.slots[slot]
        for key, value in changes.items():
            setattr(s, key, value)
        s.display.emit()

    def set_colormap(self, name: str, slot: int = 0) -> None:
        self._display(slot, colormap=name)

    def set_invert(self, invert: bool, slot: int = 0) -> None:
        self._display(slot, invert=bool(invert))

    def set_interpolation(self, on: bool, slot: int = 0) -> None:
        self._display(slot, interpolation=bool(on))

    def set_slab(self, mode: str, thickness_mm: float = 0.0, slot: int = 0) -> None:
        """Thick slab in the 2D views: 'mip', 'minip' or 'mean' over ``thickness_mm``; 'none' for thin slices."""
        if mode not in SLAB_MODES:
            raise ValueError(f"unknown slab mode {mode!r}; expected one of {', '.join(SLAB_MODES)}")
        self._display(slot, slab=(mode, float(thickness_mm)))

    def set_time_point(self, t: int, slot: int = 0) -> None:
        """Show time point ``t`` of a 4D image (clamped to its time points)."""
        volume = self.slots[slot].volume
        last = volume.timepoints - 1 if volume is not None else 0
        self._display(slot, time_point=int(np.clip(t, 0, last)))

    def display_settings(self, slot: int = 0) -> dict:
        """The slot's colour map, invert, interpolation and slab (mode, mm): what a control panel shows."""
        s = self.slots[slot]
        return {"colormap": s.colormap, "invert": s.invert, "interpolation": s.interpolation, "slab": s.slab}

    # -- viewer-wide switches ------------------------------------------------------------------------
    def set_hide_identity(self, hide: bool) -> None:
        """Hide patient name and ID wherever they are drawn (screenshots, teaching)."""
        self.hide_identity = bool(hide)
        self.hide_identity_changed.emit(self.hide_identity)

    def set_tool(self, kind: str | None) -> None:
        """Measurement tool for left clicks: 'ruler', 'angle', 'ellipse', 'rectangle'; None for window/level."""
        if kind not in TOOLS:
            raise ValueError(f"unknown measurement tool {kind!r}")
        self.tool = kind
        self.tool_changed.emit(kind)

    def set_links(self, position: bool | None = None, zoom: bool | None = None, window: bool | None = None) -> None:
        for key, value in (("position", position), ("zoom", zoom), ("window", window)):
            if value is not None:
                setattr(self.links, key, bool(value))
        self.links_changed.emit()

    def set_crosshair_visible(self, visible: bool) -> None:
        self.crosshair_visible = bool(visible)
        self.overlays_changed.emit()

    def set_annotations_visible(self, visible: bool) -> None:
        """Corner text, orientation letters and scale bars."""
        self.annotations_visible = bool(visible)
        self.overlays_changed.emit()

    # -- measurements ----------------------------------------------------------------------------------
    def measurements(self, slot: int = 0) -> list[mm.Measurement]:
        return list(self.slots[slot].measurements.items)

    def set_measurements(self, items: list[mm.Measurement], slot: int = 0) -> None:
        self.slots[slot].measurements.set(items)

    def add_measurement(self, m: mm.Measurement, slot: int = 0) -> None:
        self.slots[slot].measurements.add(m)

    def delete_measurement(self, uid: str) -> None:
        for s in self.slots:
            s.measurements.delete(uid)

    def select_measurement(self, uid: str | None, slot: int = 0) -> None:
        self.slots[slot].measurements.select(uid)

    def measurement_values(self, m: mm.Measurement, slot: int = 0) -> dict[str, tuple[float, str]]:
        """Name -> (value, unit) of a measurement on the slot's volume (length, angle, area, mean, ...)."""
        return mm.values(m, self.slots[slot].volume)
