"""Hand-overs between the numpy world and VTK: zero-copy images, colour maps, frame capture.

Why one module: every view needs the same exact mapping of a Volume onto a
``vtkImageData`` (LPS geometry with the direction matrix, no copy of the
voxels) and the same way to read pixels back (``QWidget.grab()`` of a VTK
view is black, so captures go through ``vtkWindowToImageFilter``).
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import vtkmodules.vtkInteractionStyle  # noqa: F401  (registers the interactor styles)
import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text rendering)
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (the OpenGL implementations behind vtkRenderWindow)
from PySide6.QtCore import QEvent
from PySide6.QtGui import QImage
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkTextActor, vtkWindowToImageFilter

from workstation.resources import resource
from workstation.volume import Volume


class ReleasingCanvas(QVTKRenderWindowInteractor):
    """VTK's Qt widget, releasing its render window once when closed.

    The base class finalizes through ``__getattr__``, which recurses when
    Python tears the object down at exit; this takes the window from the
    instance dict instead, so a close after a close is harmless.
    """

    def closeEvent(self, ev: QEvent) -> None:
        window = self.__dict__.pop("_RenderWindow", None)
        if window is not None:
            window.Finalize()
        ev.accept()


def voxels_of(volume: Volume, time_point: int = 0) -> np.ndarray:
    """The 3D voxel array VTK shows: the volume's own memory (one time point of a 4D series).

    It must be the very array a loader fills in place, so no copy is allowed:
    a non-contiguous array is refused rather than silently copied.
    """
    array = volume.array[time_point] if volume.array.ndim == 4 else volume.array
    if not array.flags.c_contiguous:
        raise ValueError("volume array must be C-contiguous to be shown without a copy")
    return array


def image_data(array: np.ndarray, spacing: np.ndarray, origin: np.ndarray,
               direction: np.ndarray | None = None) -> vtkImageData:
    """A ``vtkImageData`` over ``array`` (k, j, i) without copying; the numpy array stays referenced by VTK."""
    image = vtkImageData()
    k, j, i = array.shape
    image.SetDimensions(i, j, k)
    image.SetSpacing(*map(float, spacing))
    image.SetOrigin(*map(float, origin))
    if direction is not None:
        image.SetDirectionMatrix(*map(float, np.asarray(direction).ravel()))
    scalars = numpy_support.numpy_to_vtk(array.reshape(-1), deep=False)
    scalars.SetName("voxels")
    image.GetPointData().SetScalars(scalars)
    return image


def volume_image(volume: Volume, time_point: int = 0) -> vtkImageData:
    """The volume (one time point) in LPS world coordinates: spacing, origin and direction from its exact geometry."""
    spacing, origin, direction = volume.geometry_parts()
    return image_data(voxels_of(volume, time_point), spacing, origin, direction)


def matrix4(m: np.ndarray) -> vtkMatrix4x4:
    """A ``vtkMatrix4x4`` of a 4x4 array (one call with the 16 values: a slice step makes one)."""
    out = vtkMatrix4x4()
    out.DeepCopy(np.asarray(m, dtype=np.float64).ravel().tolist())
    return out


@cache
def colormaps() -> dict[str, list[list[float]]]:
    """Named colour maps from ``resources/presets/colormaps.json``: control points (position, r, g, b)."""
    with open(resource("presets", "colormaps.json"), encoding="utf-8") as f:
        return json.load(f)["maps"]


def colormap_rgb(colormap: str, entries: int = 256, invert: bool = False) -> np.ndarray:
    """(entries, 3) float colours 0..1 of a named colour map, darkest first unless inverted."""
    points = np.asarray(colormaps()[colormap], dtype=np.float64)
    x = np.linspace(0.0, 1.0, entries)
    rgb = np.stack([np.interp(x, points[:, 0], points[:, c]) for c in (1, 2, 3)], axis=1)
    return rgb[::-1] if invert else rgb


def text_actor(size: int = 14, color: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> vtkTextActor:
    """A shadowed 2D text prop (the 3D view's notices, the render self-test's label)."""
    actor = vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*color)
    prop.ShadowOn()
    return actor


def capture(render_window: vtkRenderWindow) -> np.ndarray:
    """The window's current frame as an (h, w, 3) uint8 array, top row first, read from the back buffer."""
    grab = vtkWindowToImageFilter()
    grab.SetInput(render_window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.ShouldRerenderOff()
    grab.Update()
    out = grab.GetOutput()
    w, h, _ = out.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(out.GetPointData().GetScalars()).reshape(h, w, -1)
    return np.ascontiguousarray(pixels[::-1, :, :3])


def to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage owning a copy of an (h, w, 3) uint8 array."""
    h, w, _ = rgb.shape
    data = np.ascontiguousarray(rgb)
    return QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class RenderedView:
    """Lifetime of a view drawn by VTK (the 3D view): capture a frame, release the render window once.

    A mixin placed before ``QWidget``; the view sets ``canvas`` (a
    ``ReleasingCanvas``), ``render_window``, ``_closed = False`` and ``render_now()``.
    """

    canvas: ReleasingCanvas
    render_window: vtkRenderWindow
    _closed: bool

    def render_now(self) -> None:
        raise NotImplementedError

    def capture(self) -> np.ndarray:
        """The frame as (h, w, 3) uint8, rendered now."""
        self.render_now()
        return capture(self.render_window)

    def close_view(self) -> None:
        """Release the render window (its OpenGL context and X window); the view is unusable afterwards."""
        if not self._closed:
            self._closed = True
            self.release()
            self.canvas.close()

    def release(self) -> None:
        """What a view lets go of before its canvas closes (nothing by default)."""

    @property
    def closed(self) -> bool:
        return self._closed

    def closeEvent(self, ev: QEvent) -> None:  # noqa: N802 - Qt's name
        self.close_view()
        super().closeEvent(ev)  # type: ignore[misc]
