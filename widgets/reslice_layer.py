"""One volume resliced onto a view's plane and coloured through a window and a colour map.

Why a class of its own: a slice view's image is this base layer, and other
image layers (the fused moving image, labels) are resliced onto the same
plane and grid and combined with it. The reslice works in LPS world
coordinates: the input ``vtkImageData`` carries the volume's direction
matrix, the reslice axes are the plane's (right, down, normal, centre), and
the output lives in plane coordinates (u right, v down, in mm). The view
asks for the grid of its screen pixels, so the reslice is the only sampling
between the voxels and the screen: no texture, no second interpolation.
"""

from __future__ import annotations

import time

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkImagingCore import vtkImageReslice

from widgets.fusion import Display, coloured_words
from widgets.vtk_bridge import matrix4, volume_image
from workstation.geometry import Plane
from workstation.viewer_model.display import SliceGrid, Window, slab_slices
from workstation.volume import Volume

_SLAB_MODES = {"mip": "SetSlabModeToMax", "minip": "SetSlabModeToMin", "mean": "SetSlabModeToMean"}


def plane_reslice() -> vtkImageReslice:
    """A reslice to one 2D slice in plane coordinates (u right, v down, mm), the kind every image layer uses.

    It samples along the reslice axes, not along the input's direction
    matrix (VTK's default), over exactly the extent asked for.
    """
    reslice = vtkImageReslice()
    reslice.SetOutputDimensionality(2)
    reslice.SetOutputDirection(1, 0, 0, 0, 1, 0, 0, 0, 1)
    reslice.AutoCropOutputOff()
    return reslice


def follow_plane(reslice: vtkImageReslice, leader: vtkImageReslice) -> None:
    """Sample exactly where ``leader`` samples: its plane (axes) and screen grid; how (slab, interpolation) stays.

    The same settings again leave ``reslice`` unmodified (VTK compares them),
    so it re-runs only when the leader moved or its own input changed.
    """
    axes = leader.GetResliceAxes()
    if axes is not None:
        reslice.SetResliceAxes(axes)
    reslice.SetOutputOrigin(leader.GetOutputOrigin())
    reslice.SetOutputSpacing(leader.GetOutputSpacing())
    reslice.SetOutputExtent(leader.GetOutputExtent())


def resliced(reslice: vtkImageReslice) -> np.ndarray:
    """The last slice of a 2D reslice as a (rows, cols) array over VTK's memory: rows top to bottom (v down)."""
    out = reslice.GetOutput()
    cols, rows, _ = out.GetDimensions()
    return numpy_support.vtk_to_numpy(out.GetPointData().GetScalars()).reshape(rows, cols)


class ResliceLayer:
    """vtkImageReslice of one volume and its display; call ``set_plane`` whenever the slice or the screen grid moves."""

    def __init__(self) -> None:
        self.reslice = plane_reslice()
        self.reslice.SetBackgroundLevel(0.0)
        self.display: Display | None = None
        self.volume: Volume | None = None
        self.time_point = 0
        self.image = None
        self.slab_mode, self.slab_mm = "none", 0.0
        self._step_mm = 1.0
        self._placed: tuple | None = None
        self.last_reslice_seconds = 0.0
        self.set_interpolation(True)

    def set_volume(self, volume: Volume, time_point: int = 0) -> None:
        """Reslice ``volume`` (its time point ``time_point`` if it is 4D: a view of that frame, no copy)."""
        self.volume, self.time_point = volume, time_point
        self.image = volume_image(volume, time_point)
        self.reslice.SetInputData(self.image)
        self.reslice.SetBackgroundLevel(float(volume.array.min()) if volume.array.size else 0.0)

    def volume_modified(self) -> None:
        """The voxels changed in place (a loader filling the array): re-read them on the next render."""
        if self.image is not None:
            self.image.GetPointData().GetScalars().Modified()
            self.image.Modified()

    def set_plane(self, plane: Plane, grid: SliceGrid, step_mm: float) -> None:
        """Reslice on ``plane`` (the display plane), sampling ``grid`` in plane mm; ``step_mm`` between slab slices.

        The same plane again changes nothing: a new axes matrix would re-run the
        reslice and re-colour the image, and the views whose slice stays while
        the crosshair moves in another view would pay for a new image.
        """
        if (plane, grid, step_mm) == self._placed:
            return
        self._placed = (plane, grid, step_mm)
        self.reslice.SetResliceAxes(matrix4(plane.matrix()))
        self.reslice.SetOutputOrigin(grid.origin[0], grid.origin[1], 0.0)
        self.reslice.SetOutputSpacing(grid.spacing[0], grid.spacing[1], step_mm)
        self.reslice.SetOutputExtent(0, grid.size[0] - 1, 0, grid.size[1] - 1, 0, 0)
        self._step_mm = step_mm
        self._apply_slab()

    def set_slab(self, mode: str, thickness_mm: float) -> None:
        """Thick slab: 'mip', 'minip' or 'mean' over ``thickness_mm`` centred on the plane; 'none' for a thin slice."""
        self.slab_mode, self.slab_mm = mode, thickness_mm
        self._apply_slab()

    def _apply_slab(self) -> None:
        if self.slab_mode in _SLAB_MODES and self.slab_mm > self._step_mm:
            getattr(self.reslice, _SLAB_MODES[self.slab_mode])()
            self.reslice.SetSlabNumberOfSlices(slab_slices(self.slab_mm, self._step_mm))
        else:
            self.reslice.SetSlabNumberOfSlices(1)

    def slab_slices(self) -> int:
        return self.reslice.GetSlabNumberOfSlices()

    def set_display(self, window: Window, colormap: str, invert: bool) -> None:
        self.display = Display(window, colormap, invert)

    def set_interpolation(self, on: bool) -> None:
        """Linear interpolation between voxels, or nearest neighbour (the stored pixels, as blocks when zoomed)."""
        if on:
            self.reslice.SetInterpolationModeToLinear()
        else:
            self.reslice.SetInterpolationModeToNearestNeighbor()

    def update(self) -> float:
        """Run the reslice now (if anything changed) and return the seconds it took; renders reuse the result."""
        start = time.perf_counter()
        self.reslice.Update()
        self.last_reslice_seconds = time.perf_counter() - start
        return self.last_reslice_seconds

    def values(self) -> np.ndarray:
        """The last resliced slice as a (rows, cols) array over VTK's memory: rows top to bottom (v down)."""
        return resliced(self.reslice)

    def pixels(self) -> np.ndarray:
        """(rows, cols) uint32 0xFFRRGGBB: the last slice through the window and colour map."""
        return coloured_words(self.values(), self.display)
