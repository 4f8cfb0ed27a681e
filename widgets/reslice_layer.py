"""One volume resliced onto a view's plane and coloured through a window and a colour map.

Why a class of its own: a slice view's image is this base layer, and other
image layers (the fused moving image, labels) are resliced onto the same
plane and grid and combined with it. The reslice works in LPS world
coordinates: the input ``vtkImageData`` carries the volume's direction
matrix, the reslice axes are the plane's (right, down, normal, centre), and
the output lives in plane coordinates (u right, v down, in mm).

The view asks for the values on its screen pixels (``screen``). A thin
slice zoomed in, or without interpolation (nearest on the screen is nearest
on the data grid), is resliced straight onto them: the reslice is the only
sampling between the voxels and the screen. Otherwise (a thick slab, or a
screen pixel covering a voxel or more) the volume is resliced on the slice's
grid at the data's own resolution (``data``, on voxel centres in an
unrotated view), over the part on screen, and that is scaled to the screen
pixels: by nearest index when zoomed out or interpolation is off, by a 2D
linear reslice when zoomed in (a bilinear interpolation of the data grid,
which for a thin slice is exactly what the direct reslice computes). Why: a
slab sampled at screen resolution took 40 to 50 ms a slice against 17 on the
data grid (more samples, each times the slab's slices, and none on voxel
centres, where VTK copies instead of interpolating). A thin slice whose data
grid lies on the voxel centres of one stored slice (a view along the
volume's axes, the common case of scrolling a stack) is that stored slice:
its screen pixels are gathered straight from the voxel array, one numpy
gather in place of the reslice and the index map (1.3 and 0.5 ms of a 6 ms
step on the cirs CT). The world position of
each screen pixel is the same either way; only the interpolation between
voxels differs, as it did when a texture was scaled on screen, and a slab
and a thin slice are scaled alike (a MIP pixel is never below the thin
slice's).
"""

from __future__ import annotations

import time

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkImagingCore import VTK_RESLICE_NEAREST, vtkImageReslice

from widgets.fusion import Display, coloured_words
from widgets.vtk_bridge import matrix4, volume_image, voxels_of
from workstation.geometry import Plane
from workstation.viewer_model.display import SliceGrid, Window, slab_slices
from workstation.volume import Volume

_SLAB_MODES = {"mip": "SetSlabModeToMax", "minip": "SetSlabModeToMin", "mean": "SetSlabModeToMean"}
ON_VOXEL = 1e-6
"""Voxel index units within which a data-grid sample is a voxel centre (VTK copies there, within 7.6e-6)."""


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


def place_output(reslice: vtkImageReslice, grid: SliceGrid, step_mm: float,
                 extent: tuple[int, int, int, int] | None = None) -> None:
    """Sample ``grid`` (plane mm; ``extent`` = its columns i0..i1 and rows j0..j1, all of it by default)."""
    reslice.SetOutputOrigin(grid.origin[0], grid.origin[1], 0.0)
    reslice.SetOutputSpacing(grid.spacing[0], grid.spacing[1], step_mm)
    i0, i1, j0, j1 = extent if extent is not None else (0, grid.size[0] - 1, 0, grid.size[1] - 1)
    reslice.SetOutputExtent(i0, i1, j0, j1, 0, 0)


def follow_plane(reslice: vtkImageReslice, leader: ResliceLayer) -> None:
    """Sample where ``leader``'s values lie: its plane (axes) and screen grid; how (slab, interpolation) stays.

    The same settings again leave ``reslice`` unmodified (VTK compares them),
    so it re-runs only when the leader moved or its own input changed.
    """
    axes = leader.reslice.GetResliceAxes()
    if axes is not None:
        reslice.SetResliceAxes(axes)
    place_output(reslice, leader.screen, leader.step_mm)


def nearest_indices(first: float, step: float, count: int, grid_first: float, grid_step: float,
                    grid_count: int) -> np.ndarray:
    """For ``count`` screen samples from ``first`` by ``step`` (mm), the nearest of a grid's samples (clipped)."""
    at = first + step * np.arange(count)
    return np.clip(np.rint((at - grid_first) / grid_step), 0, grid_count - 1).astype(np.intp)


def stored_slice(to_index: np.ndarray, shape_kji: tuple[int, int, int], first: np.ndarray,
                 steps: np.ndarray, count: tuple[int, int]) -> tuple[int, int, int] | None:
    """Where a grid of ``count`` (columns, rows) samples is voxel centres of a ``shape_kji`` array: the flat index
    of its first sample and the flat steps to the next column and row, or None if any sample is not a voxel centre.

    ``to_index`` maps LPS to continuous voxel indices (i, j, k); ``first`` is the
    LPS of the grid's first sample and ``steps`` (2, 3) the LPS steps along its
    columns and rows. The samples are voxel centres when the first one is and
    each step is one voxel along an axis.
    """
    at = to_index[:3, :3] @ first + to_index[:3, 3]
    moves = steps @ to_index[:3, :3].T
    whole_at, whole_moves = np.rint(at), np.rint(moves)
    drift = np.abs(moves - whole_moves).max() * max(count)
    if np.abs(at - whole_at).max() > ON_VOXEL or drift > ON_VOXEL or np.any(np.abs(whole_moves).sum(axis=1) != 1):
        return None
    nk, nj, ni = shape_kji
    last = whole_at + (count[0] - 1) * whole_moves[0] + (count[1] - 1) * whole_moves[1]
    if min(whole_at.min(), last.min()) < 0 or np.any(np.maximum(whole_at, last) > (ni - 1, nj - 1, nk - 1)):
        return None
    strides = np.array([1, ni, ni * nj])
    flat_at, column, row = (int(x) for x in (whole_at @ strides, *(whole_moves @ strides)))
    return flat_at, column, row


def resliced(reslice: vtkImageReslice) -> np.ndarray:
    """The last slice of a 2D reslice as a (rows, cols) array over VTK's memory: rows top to bottom (v down)."""
    out = reslice.GetOutput()
    cols, rows, _ = out.GetDimensions()
    return numpy_support.vtk_to_numpy(out.GetPointData().GetScalars()).reshape(rows, cols)


class ResliceLayer:
    """vtkImageReslice of one volume and its display; call ``set_plane`` whenever the slice or the screen grid moves."""

    def __init__(self) -> None:
        self.reslice = plane_reslice()  # on the screen grid, or the data grid
        self.reslice.SetBackgroundLevel(0.0)
        self.zoom = plane_reslice()     # data grid -> screen grid: a slab zoomed in with interpolation on
        self.zoom.SetInterpolationModeToLinear()
        self.zoom.SetInputConnection(self.reslice.GetOutputPort())
        self.display: Display | None = None
        self.volume: Volume | None = None
        self.time_point = 0
        self.image = None
        self.slab_mode, self.slab_mm = "none", 0.0
        self.step_mm = 1.0
        self.screen: SliceGrid | None = None
        self._data: SliceGrid | None = None
        self._placed: tuple | None = None
        self._to_screen = "direct"       # how the reslice's output becomes the screen's: "direct", "zoom", "nearest"
        self._nearest = np.zeros(0, np.intp)  # for "nearest": the flat index in the output of each screen pixel
        self._lines = (np.zeros(0, np.intp),) * 2  # for "nearest": each screen row's and column's in the extent
        self._voxels: np.ndarray | None = None   # the shown time point's voxels, the memory VTK reslices
        self._to_index = np.eye(4)               # LPS -> continuous voxel index (i, j, k)
        self._gather: tuple | None = None        # (mapping, steps), first offset, screen pixels' offsets in voxels
        self._stored: tuple = (None, None)       # what _stored_slice answered, and for which placing
        self._extent = (0, 0, 0, 0)           # the data grid's part on screen (columns i0..i1, rows j0..j1)
        self._mapped: tuple | None = None     # (screen, data, way to the screen) _nearest and _extent are for
        self._values: np.ndarray | None = None
        self._made_from: tuple | None = None
        self.version = 0
        """Counts the screen values made: a frame built from an older version is out of date."""
        self.last_reslice_seconds = 0.0
        self.set_interpolation(True)

    def set_volume(self, volume: Volume, time_point: int = 0) -> None:
        """Reslice ``volume`` (its time point ``time_point`` if it is 4D: a view of that frame, no copy)."""
        self.volume, self.time_point = volume, time_point
        self.image = volume_image(volume, time_point)
        self._voxels, self._to_index = voxels_of(volume, time_point), np.linalg.inv(volume.affine)
        self._stored = (None, None)
        self.reslice.SetInputData(self.image)
        background = float(volume.array.min()) if volume.array.size else 0.0
        self.reslice.SetBackgroundLevel(background)
        self.zoom.SetBackgroundLevel(background)

    def volume_modified(self) -> None:
        """The voxels changed in place (a loader filling the array): re-read them on the next render."""
        if self.image is not None:
            self.image.GetPointData().GetScalars().Modified()
            self.image.Modified()

    def set_plane(self, plane: Plane, screen: SliceGrid, data: SliceGrid, step_mm: float) -> None:
        """Show ``plane`` (the display plane) on the ``screen`` grid, sampling it on ``data`` (the slice's grid at
        the volume's resolution, plane mm); ``step_mm`` between slab slices.

        The same plane again changes nothing: a new axes matrix would re-run the
        reslice and re-colour the image, and the views whose slice stays while
        the crosshair moves in another view would pay for a new image.
        """
        if (plane, screen, data, step_mm) == self._placed:
            return
        grids_stay = self._placed is not None and (screen, data, step_mm) == self._placed[1:]
        self._placed = (plane, screen, data, step_mm)
        self.screen, self._data, self.step_mm = screen, data, step_mm
        self.reslice.SetResliceAxes(matrix4(plane.matrix()))
        if not grids_stay:  # a slice step moves the plane only: the slab's slices and the sampling stay
            self._apply_slab()

    def _place(self) -> None:
        """Where the reslice samples (the screen, or the data grid's part on screen) and the way from there to the
        screen pixels."""
        screen, data = self.screen, self._data
        if screen is None:
            return
        zoomed_in = any(screen.spacing[a] < data.spacing[a] * (1 - 1e-9) for a in (0, 1))
        linear = self.reslice.GetInterpolationMode() != VTK_RESLICE_NEAREST
        if self.reslice.GetSlabNumberOfSlices() == 1 and (zoomed_in or not linear):
            self._to_screen = "direct"
            place_output(self.reslice, screen, self.step_mm)
            return
        to_screen = "zoom" if zoomed_in and linear else "nearest"
        if (screen, data, to_screen) != self._mapped:  # a slice step keeps the grids: the mapping stays
            self._mapped = (screen, data, to_screen)
            cols, rows = (nearest_indices(screen.origin[a], screen.spacing[a], screen.size[a], data.origin[a],
                                          data.spacing[a], data.size[a]) for a in (0, 1))
            margin = 1 if to_screen == "zoom" else 0  # a neighbour beyond the edge for the linear zoom
            i0, i1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin, data.size[0] - 1)
            j0, j1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin, data.size[1] - 1)
            self._extent = (i0, i1, j0, j1)
            if to_screen == "nearest":
                self._lines = (rows - j0, cols - i0)
                self._nearest = (self._lines[0][:, None] * (i1 - i0 + 1) + self._lines[1][None, :]).ravel()
        self._to_screen = to_screen
        place_output(self.reslice, data, self.step_mm, self._extent)
        if to_screen == "zoom":
            place_output(self.zoom, screen, self.step_mm)

    def set_slab(self, mode: str, thickness_mm: float) -> None:
        """Thick slab: 'mip', 'minip' or 'mean' over ``thickness_mm`` centred on the plane; 'none' for a thin slice."""
        self.slab_mode, self.slab_mm = mode, thickness_mm
        self._apply_slab()

    def _apply_slab(self) -> None:
        if self.slab_mode in _SLAB_MODES and self.slab_mm > self.step_mm:
            getattr(self.reslice, _SLAB_MODES[self.slab_mode])()
            self.reslice.SetSlabNumberOfSlices(slab_slices(self.slab_mm, self.step_mm))
        else:
            self.reslice.SetSlabNumberOfSlices(1)
        self._place()

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
        self._place()  # the way to the screen follows: nearest blocks, or a linear zoom

    def _stored_slice(self) -> tuple[int, np.ndarray] | None:
        """When the data grid is voxel centres of one stored slice (a thin slice scaled by nearest index): the flat
        index in the voxels of the lowest one shown and each screen pixel's (rows, cols) flat offset from it.

        Worked out once per placing: a frame asks for the values several times.
        """
        placing = (self._placed, self._mapped, self._to_screen, self.reslice.GetSlabNumberOfSlices())
        if self._stored[0] != placing:
            self._stored = (placing, self._find_stored_slice())
        return self._stored[1]

    def _find_stored_slice(self) -> tuple[int, np.ndarray] | None:
        if self._to_screen != "nearest" or self._voxels is None or self.reslice.GetSlabNumberOfSlices() != 1:
            return None
        plane, data = self._placed[0], self._data
        i0, i1, j0, j1 = self._extent
        axes = plane.matrix()[:3]
        first = axes @ (data.origin[0] + i0 * data.spacing[0], data.origin[1] + j0 * data.spacing[1], 0.0, 1.0)
        steps = axes[:, :2].T * np.array(data.spacing)[:, None]
        found = stored_slice(self._to_index, self._voxels.shape, first, steps, (i1 - i0 + 1, j1 - j0 + 1))
        if found is None:
            return None
        flat_at, column, row = found
        if self._gather is None or self._gather[0] != (self._mapped, column, row):
            rows, cols = self._lines
            offsets = rows[:, None] * row + cols[None, :] * column
            low = int(offsets.min())
            self._gather = ((self._mapped, column, row), low, offsets - low)
        _, low, offsets = self._gather
        return flat_at + low, offsets

    def update(self) -> float:
        """Run the reslice now (if anything changed) and return the seconds it took; renders reuse the result."""
        start = time.perf_counter()
        stored = self._stored_slice()
        if stored is None:
            self.reslice.Update()
            made_from = (self.reslice.GetOutput().GetMTime(), self.screen, self._to_screen)
        else:  # the voxels' modification time: a loader filling them in place
            made_from = ("stored", stored[0], self.image.GetMTime(), self._mapped)
        if made_from != self._made_from:
            if stored is not None:
                first, offsets = stored
                self._values = np.take(self._voxels.reshape(-1)[first:], offsets, mode="clip")
            elif self._to_screen == "direct":
                self._values = resliced(self.reslice)
            elif self._to_screen == "zoom":
                self.zoom.Update()
                self._values = resliced(self.zoom)
            else:
                cols, rows = self.screen.size
                self._values = resliced(self.reslice).ravel().take(self._nearest).reshape(rows, cols)
            self._made_from = made_from
            self.version += 1
        self.last_reslice_seconds = time.perf_counter() - start
        return self.last_reslice_seconds

    def values(self) -> np.ndarray:
        """The slice on the screen grid as of the last ``update``, (rows, cols): rows top to bottom (v down)."""
        return self._values

    def pixels(self) -> np.ndarray:
        """(rows, cols) uint32 0xFFRRGGBB: the last slice through the window and colour map."""
        return coloured_words(self.values(), self.display)
