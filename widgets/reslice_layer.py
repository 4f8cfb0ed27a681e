"""One volume resliced onto a view's plane and drawn with a window and a colour map.

Why a class of its own: a slice view shows one layer today, and a fusion view
(registration) will show a second one resliced onto the same plane and grid,
blended over the first. The reslice works in LPS world coordinates: the input
``vtkImageData`` carries the volume's direction matrix, the reslice axes are
the plane's (right, down, normal, centre), and the output lives in plane
coordinates (u right, v down, in mm), which is the 2D view's world frame.
"""

from __future__ import annotations

import time

from vtkmodules.vtkImagingCore import vtkImageReslice
from vtkmodules.vtkRenderingCore import vtkImageActor

from widgets.vtk_bridge import lookup_table, matrix4, volume_image
from workstation.geometry import Plane
from workstation.viewer_model.display import SliceGrid, Window, slab_slices
from workstation.volume import Volume

_SLAB_MODES = {"mip": "SetSlabModeToMax", "minip": "SetSlabModeToMin", "mean": "SetSlabModeToMean"}


class ResliceLayer:
    """vtkImageReslice -> vtkImageActor for one volume; call ``set_plane`` whenever the slice moves."""

    def __init__(self) -> None:
        self.reslice = vtkImageReslice()
        self.reslice.SetOutputDimensionality(2)
        # Sample along the reslice axes, not along the input's direction matrix (VTK's default).
        self.reslice.SetOutputDirection(1, 0, 0, 0, 1, 0, 0, 0, 1)
        self.reslice.SetBackgroundLevel(0.0)
        self.reslice.AutoCropOutputOff()
        self.actor = vtkImageActor()
        self.actor.GetMapper().SetInputConnection(self.reslice.GetOutputPort())
        self.actor.GetProperty().UseLookupTableScalarRangeOff()
        self.actor.SetVisibility(False)
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
        self.actor.SetVisibility(True)

    def volume_modified(self) -> None:
        """The voxels changed in place (a loader filling the array): re-read them on the next render."""
        if self.image is not None:
            self.image.GetPointData().GetScalars().Modified()
            self.image.Modified()

    def set_plane(self, plane: Plane, grid: SliceGrid, step_mm: float) -> None:
        """Reslice on ``plane`` (the display plane), sampling ``grid`` in plane mm; ``step_mm`` between slab slices.

        The same plane again changes nothing: a new axes matrix would re-run the
        reslice and re-upload the texture, and the views whose slice stays while
        the crosshair moves in another view would pay a whole frame for it.
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
        prop = self.actor.GetProperty()
        prop.SetLookupTable(lookup_table(colormap, window, invert))
        prop.SetColorWindow(window.width)
        prop.SetColorLevel(window.center)

    def set_interpolation(self, on: bool) -> None:
        """Linear interpolation in the reslice and on screen, or nearest neighbour (the stored pixels)."""
        if on:
            self.reslice.SetInterpolationModeToLinear()
            self.actor.GetProperty().SetInterpolationTypeToLinear()
        else:
            self.reslice.SetInterpolationModeToNearestNeighbor()
            self.actor.GetProperty().SetInterpolationTypeToNearest()

    def set_opacity(self, opacity: float) -> None:
        self.actor.GetProperty().SetOpacity(opacity)

    def update(self) -> float:
        """Run the reslice now (if anything changed) and return the seconds it took; renders reuse the result."""
        start = time.perf_counter()
        self.reslice.Update()
        self.last_reslice_seconds = time.perf_counter() - start
        return self.last_reslice_seconds
