"""The 3D view: volume rendering with presets, MIP, isosurface, crop box and an orientation marker.

Geometry: VTK's volume mapper gets an image without a direction matrix
(index x spacing from the origin 0) and the ``vtkVolume`` a user matrix
``[direction | origin]``, which places it exactly in LPS whatever the
acquisition; the isosurface actor gets the same matrix. This is the form
every VTK mapper honours.

Limits: before uploading, the view asks the OpenGL context for its largest 3D
texture and also keeps a voxel budget suited to software rendering; a volume
beyond either is downsampled (every n-th voxel) and the view says so in a
visible notice. While the user drags, the mapper renders at a coarser sample
distance (VTK's interactive update rate), so llvmpipe stays responsive.
"""

from __future__ import annotations

import json
import math
from functools import cache

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D
from vtkmodules.vtkImagingCore import vtkExtractVOI
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

from widgets.gl_info import max_3d_texture_size
from widgets.vtk_bridge import ReleasingCanvas, RenderedView, image_data, matrix4, text_actor, voxels_of
from workstation.resources import resource
from workstation.volume import Volume

MODES = ("composite", "mip", "isosurface")
VOXEL_BUDGET = 8_000_000
"""Most voxels sent to the 3D texture (16 MB of int16): software OpenGL (llvmpipe) then renders a still frame
of the cirs057a CT in a few seconds rather than ten (measured on 2 busy cores)."""


@cache
def volume_presets() -> dict:
    """Presets from ``resources/presets/volume_presets.json`` (colour and opacity points in data units)."""
    with open(resource("presets", "volume_presets.json"), encoding="utf-8") as f:
        return json.load(f)


def preset_names() -> list[str]:
    return list(volume_presets()["presets"])


def downsample_factor(shape_ijk: tuple[int, int, int], max_texture: int, voxel_budget: int = VOXEL_BUDGET) -> int:
    """Smallest integer step that fits every axis in the texture limit and the whole in the voxel budget."""
    factor = max(1, max(math.ceil(n / max_texture) for n in shape_ijk))
    while math.prod(math.ceil(n / factor) for n in shape_ijk) > voxel_budget:
        factor += 1
    return factor


class _Canvas(ReleasingCanvas):
    """VTK's Qt widget with a double-click signal (maximise)."""

    def __init__(self, parent: QWidget, on_double_click) -> None:
        super().__init__(parent)
        self._on_double_click = on_double_click

    def mouseDoubleClickEvent(self, ev: QMouseEvent) -> None:
        self._on_double_click()


class VolumeView(RenderedView, QWidget):
    """3D rendering of one volume; left-drag rotates, middle-drag pans, right-drag or wheel zooms."""

    doubleClicked = Signal(str)
    name = "3d"

    def __init__(self, parent: QWidget | None = None, max_texture: int | None = None,
                 voxel_budget: int = VOXEL_BUDGET) -> None:
        super().__init__(parent)
        self.canvas = _Canvas(self, lambda: self.doubleClicked.emit(self.name))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.render_window = self.canvas.GetRenderWindow()
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.05, 0.05, 0.08)
        self.render_window.AddRenderer(self.renderer)
        interactor = self.canvas.GetRenderWindow().GetInteractor()
        interactor.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        interactor.SetDesiredUpdateRate(8.0)
        interactor.SetStillUpdateRate(0.01)
        self.canvas.Initialize()
        self._max_texture, self._voxel_budget = max_texture, voxel_budget

        self.mapper = vtkSmartVolumeMapper()
        self.mapper.SetInteractiveUpdateRate(4.0)
        self.mapper.AutoAdjustSampleDistancesOn()
        self.property = vtkVolumeProperty()
        self.property.SetInterpolationTypeToLinear()
        self.actor = vtkVolume()
        self.actor.SetMapper(self.mapper)
        self.actor.SetProperty(self.property)  # added to the renderer with the first volume: no input before
        self.surface = vtkActor()
        self.surface.SetMapper(vtkPolyDataMapper())
        self.surface.GetMapper().ScalarVisibilityOff()
        self.surface.GetProperty().SetColor(0.95, 0.9, 0.8)
        self.surface.SetVisibility(False)
        self.renderer.AddActor(self.surface)
        self.notice_actor = text_actor(13, (1.0, 0.75, 0.3))
        self.notice_actor.SetPosition(8, 8)
        self.renderer.AddViewProp(self.notice_actor)
        self._marker = self._orientation_marker()

        self.volume: Volume | None = None
        self.time_point = 0
        self.image = None
        self.factor = 1
        self.notice = ""
        self.mode = "composite"
        self.preset = ""
        self.shift, self.opacity = 0.0, 1.0
        self.iso_threshold = 300.0
        self.crop: tuple[np.ndarray, np.ndarray] | None = None
        self._range = (0.0, 1.0)
        self._surface_key = None
        self._closed = False

    def _orientation_marker(self) -> vtkOrientationMarkerWidget:
        """A cube labelled in LPS (x = L, y = P, z = S) that turns with the camera."""
        cube = vtkAnnotatedCubeActor()
        for face, text in (("XPlus", "L"), ("XMinus", "R"), ("YPlus", "P"), ("YMinus", "A"), ("ZPlus", "S"),
                           ("ZMinus", "I")):
            getattr(cube, f"Set{face}FaceText")(text)
        cube.SetFaceTextScale(0.6)
        cube.GetCubeProperty().SetColor(0.25, 0.3, 0.4)
        cube.GetTextEdgesProperty().SetColor(0.8, 0.8, 0.8)
        marker = vtkOrientationMarkerWidget()
        marker.SetOrientationMarker(cube)
        marker.SetInteractor(self.render_window.GetInteractor())
        marker.SetViewport(0.82, 0.0, 1.0, 0.18)
        marker.SetEnabled(1)
        marker.InteractiveOff()
        return marker

    # -- volume -------------------------------------------------------------------
    def set_volume(self, volume: Volume, time_point: int = 0) -> None:
        """Show ``volume`` (its time point ``time_point``); downsampled (with a notice) beyond the 3D texture limit
        or the voxel budget."""
        self.volume = volume
        self._upload(time_point)
        self.crop = None
        self.mapper.SetCropping(False)
        table = volume_presets()["default_for_modality"]
        self.set_preset(table.get(volume.meta.modality.upper(), table["default"]))
        self.reset_camera()

    def set_time_point(self, time_point: int) -> None:
        """Show another time point of the 4D volume: its voxels only; camera, preset and crop stay."""
        if self.volume is not None and time_point != self.time_point:
            self._upload(time_point)
            self._apply_transfer()

    def _upload(self, time_point: int) -> None:
        volume = self.volume
        self.time_point = time_point
        limit = self._max_texture or max_3d_texture_size()
        self.factor = downsample_factor(volume.shape_ijk, limit, self._voxel_budget)
        voxels = voxels_of(volume, time_point)
        f = self.factor
        array = voxels if f == 1 else np.ascontiguousarray(voxels[::f, ::f, ::f])
        spacing, origin, direction = volume.geometry_parts()
        self.image = image_data(array, spacing * f, (0.0, 0.0, 0.0))
        placement = np.eye(4)
        placement[:3, :3], placement[:3, 3] = direction, origin
        self.actor.SetUserMatrix(matrix4(placement))
        self.surface.SetUserMatrix(matrix4(placement))
        self.mapper.SetInputData(self.image)
        if not self.renderer.GetVolumes().IsItemPresent(self.actor):
            self.renderer.AddVolume(self.actor)
        self._range = (float(array.min()), float(array.max())) if array.size else (0.0, 1.0)
        self.notice = (f"3D shown at 1/{f} resolution (GPU 3D texture limit {limit}, budget "
                       f"{self._voxel_budget / 1e6:.0f} M voxels)" if f > 1 else "")
        self.notice_actor.SetInput(self.notice)
        self.notice_actor.SetVisibility(bool(self.notice))
        self._surface_key = None

    def volume_modified(self) -> None:
        """The voxels changed in place: re-upload them (call once loading has finished: it sends the whole texture)."""
        if self.image is not None and self.factor == 1:
            self.image.GetPointData().GetScalars().Modified()
            self.image.Modified()
            self._surface_key = None
        elif self.volume is not None:
            self._upload(self.time_point)

    # -- rendering parameters --------------------------------------------------------
    def set_preset(self, name: str, shift: float | None = None, opacity: float | None = None) -> None:
        """Volume-rendering preset; ``shift`` moves every point along the values, ``opacity`` scales opacity (0..2)."""
        if name not in volume_presets()["presets"]:
            raise KeyError(f"no volume-rendering preset {name!r}")
        self.preset = name
        self.shift = self.shift if shift is None else float(shift)
        self.opacity = self.opacity if opacity is None else float(np.clip(opacity, 0.0, 2.0))
        self._apply_transfer()

    def _value(self, x: float, relative: bool) -> float:
        lo, hi = self._range
        return (lo + x * (hi - lo) if relative else x) + self.shift

    def _apply_transfer(self) -> None:
        preset = volume_presets()["presets"][self.preset]
        colors, opacities = vtkColorTransferFunction(), vtkPiecewiseFunction()
        relative = preset["relative"]
        if self.mode == "mip":
            lo, hi = self._range
            colors.AddRGBPoint(lo, 0, 0, 0)
            colors.AddRGBPoint(hi, 1, 1, 1)
            opacities.AddPoint(lo, 0.0)
            opacities.AddPoint(hi, min(1.0, self.opacity))
            self.mapper.SetBlendModeToMaximumIntensity()
            self.property.ShadeOff()
        else:
            for x, r, g, b in preset["color"]:
                colors.AddRGBPoint(self._value(x, relative), r, g, b)
            for x, a in preset["opacity"]:
                opacities.AddPoint(self._value(x, relative), float(np.clip(a * self.opacity, 0.0, 1.0)))
            self.mapper.SetBlendModeToComposite()
            self.property.SetShade(bool(preset["shade"]))
            self.property.SetAmbient(preset["ambient"])
            self.property.SetDiffuse(preset["diffuse"])
            self.property.SetSpecular(preset["specular"])
        self.property.SetColor(colors)
        self.property.SetScalarOpacity(opacities)

    def set_mode(self, mode: str) -> None:
        """'composite' (volume rendering with the preset), 'mip' or 'isosurface'."""
        if mode not in MODES:
            raise ValueError(f"unknown 3D mode {mode!r}; expected one of {', '.join(MODES)}")
        self.mode = mode
        iso = mode == "isosurface"
        self.actor.SetVisibility(not iso)
        self.surface.SetVisibility(iso)
        if iso:
            self._update_surface()
        else:
            self._apply_transfer()

    def set_iso_threshold(self, value: float) -> None:
        self.iso_threshold = float(value)
        if self.mode == "isosurface":
            self._update_surface()

    def _crop_extent(self) -> tuple[int, ...]:
        dims = self.image.GetDimensions()
        if self.crop is None:
            return 0, dims[0] - 1, 0, dims[1] - 1, 0, dims[2] - 1
        lo, hi = self.crop
        extent = []
        for axis in range(3):
            n = dims[axis] - 1
            extent += [int(math.floor(lo[axis] * n)), int(math.ceil(hi[axis] * n))]
        return tuple(extent)

    def _update_surface(self) -> None:
        """Isosurface (flying edges) of the shown, cropped voxels at the threshold; recomputed only on change."""
        if self.image is None:
            return
        key = (self.iso_threshold, self._crop_extent())
        if key == self._surface_key:
            return
        voi = vtkExtractVOI()
        voi.SetInputData(self.image)
        voi.SetVOI(*key[1])
        edges = vtkFlyingEdges3D()
        edges.SetInputConnection(voi.GetOutputPort())
        edges.SetValue(0, self.iso_threshold)
        edges.ComputeNormalsOn()
        edges.Update()
        self.surface.GetMapper().SetInputData(edges.GetOutput())
        self._surface_key = key

    def set_crop(self, lower: tuple[float, float, float] | None,
                 upper: tuple[float, float, float] | None = None) -> None:
        """Keep only the box between two corners given as fractions (0..1) of the i, j, k extents; None removes it."""
        if lower is None or self.image is None:
            self.crop = None
            self.mapper.SetCropping(False)
        else:
            self.crop = (np.clip(np.asarray(lower, dtype=float), 0, 1), np.clip(np.asarray(upper, dtype=float), 0, 1))
            spacing = np.asarray(self.image.GetSpacing())
            extent = np.asarray(self._crop_extent(), dtype=float).reshape(3, 2)
            planes = (extent * spacing[:, None]).ravel()
            self.mapper.SetCropping(True)
            self.mapper.SetCroppingRegionPlanes(*planes)
            self.mapper.SetCroppingRegionFlagsToSubVolume()
        if self.mode == "isosurface":
            self._update_surface()

    def reset_camera(self) -> None:
        """Anterior view, head up: the patient's right on screen left (as a radiologist faces a patient)."""
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(0, 0, 0)
        camera.SetPosition(0, -1, 0)
        camera.SetViewUp(0, 0, 1)
        self.renderer.ResetCamera()
        camera.Zoom(1.3)

    # -- rendering and lifetime ---------------------------------------------------------
    def render(self) -> None:
        """Ask Qt for a repaint: requests coalesce into one render, which costs seconds in software OpenGL."""
        if not self._closed and self.volume is not None:
            self.canvas.update()

    def render_now(self) -> None:
        if not self._closed and self.volume is not None:
            self.render_window.Render()

    def release(self) -> None:
        self._marker.SetEnabled(0)  # the orientation marker holds the interactor
