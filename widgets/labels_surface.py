"""Segments as surfaces in the 3D view: discrete flying edges on each segment's box, smoothed, in its colour.

``segment_surfaces`` is a job (no Qt, no rendering): per segment it cuts
the map to the segment's box (one voxel to spare), extracts the boundary
between that number and the rest (``vtkDiscreteFlyingEdges3D``), smooths it
without shrinking (``vtkWindowedSincPolyDataFilter``) and hands back plain
numpy points and triangles in the map's scaled index frame (index x spacing,
no direction). ``SurfaceActors`` turns them into actors on the GUI thread,
placed in LPS by the user matrix [direction | origin], the form the 3D
view gives its volume (``widgets.volume_view``), so they sit exactly on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from segmentation.history import bounding_box
from widgets.vtk_bridge import image_data, matrix4
from workstation.jobs import CancelFlag, Progress, check_cancel
from workstation.labels import LabelMap

SMOOTHING_ITERATIONS = 15
PASS_BAND = 0.1


@dataclass
class Surface:
    """One segment's surface: points (n, 3) in the map's scaled index frame and triangles (m, 3) of point ids."""

    number: int
    points: np.ndarray
    triangles: np.ndarray


def segment_surfaces(progress: Progress, cancel: CancelFlag | None, labels: LabelMap) -> list[Surface]:
    """The surface of every non-empty segment of ``labels``; a job."""
    spacing = np.asarray(labels.volume.spacing, dtype=np.float64)
    out = []
    for n, segment in enumerate(labels.segments):
        check_cancel(cancel)
        progress(n / max(1, len(labels.segments)), f"surface of {segment.label}")
        box = bounding_box(labels.array == segment.number)
        if box is None:
            continue
        box = tuple(slice(max(b.start - 1, 0), min(b.stop + 1, size)) for b, size in zip(box, labels.array.shape,
                                                                                         strict=True))
        crop = np.ascontiguousarray(labels.array[box] == segment.number, dtype=np.uint8)
        corner = np.array([box[2].start, box[1].start, box[0].start], dtype=np.float64) * spacing
        edges = vtkDiscreteFlyingEdges3D()
        edges.SetInputData(image_data(crop, spacing, corner))
        edges.SetValue(0, 1)
        edges.ComputeNormalsOff()
        smooth = vtkWindowedSincPolyDataFilter()
        smooth.SetInputConnection(edges.GetOutputPort())
        smooth.SetNumberOfIterations(SMOOTHING_ITERATIONS)
        smooth.SetPassBand(PASS_BAND)
        smooth.BoundarySmoothingOff()
        smooth.NonManifoldSmoothingOn()
        smooth.NormalizeCoordinatesOn()
        smooth.Update()
        poly = smooth.GetOutput()
        if poly.GetNumberOfPoints() == 0:
            continue
        points = numpy_support.vtk_to_numpy(poly.GetPoints().GetData()).astype(np.float64)
        triangles = numpy_support.vtk_to_numpy(poly.GetPolys().GetConnectivityArray()).reshape(-1, 3)
        out.append(Surface(segment.number, points.copy(), triangles.astype(np.int64)))
    progress(1.0, "surfaces done")
    return out


def polydata(surface: Surface) -> vtkPolyData:
    points = vtkPoints()
    points.SetData(numpy_support.numpy_to_vtk(surface.points, deep=True))
    cells = vtkCellArray()
    offsets = np.arange(0, 3 * len(surface.triangles) + 1, 3, dtype=np.int64)
    cells.SetData(numpy_support.numpy_to_vtkIdTypeArray(offsets, deep=True),
                  numpy_support.numpy_to_vtkIdTypeArray(surface.triangles.ravel().astype(np.int64), deep=True))
    data = vtkPolyData()
    data.SetPoints(points)
    data.SetPolys(cells)
    normals = vtkPolyDataNormals()
    normals.SetInputData(data)
    normals.SplittingOff()
    normals.Update()
    return normals.GetOutput()


class SurfaceActors:
    """The segments' surface actors in one renderer, in the segments' colours, opacity and visibility."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.actors: dict[int, vtkActor] = {}

    def show(self, labels: LabelMap, surfaces: list[Surface]) -> None:
        """Replace the shown surfaces with ``surfaces`` of ``labels``."""
        self.clear()
        spacing, origin, direction = labels.volume.geometry_parts()
        placement = np.eye(4)
        placement[:3, :3], placement[:3, 3] = direction, origin
        for surface in surfaces:
            actor = vtkActor()
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(polydata(surface))
            actor.SetMapper(mapper)
            actor.SetUserMatrix(matrix4(placement))
            self.actors[surface.number] = actor
            self.renderer.AddActor(actor)
        self.restyle(labels)

    def restyle(self, labels: LabelMap) -> None:
        """Colours, opacity and visibility from the segments (no new surfaces)."""
        for number, actor in self.actors.items():
            segment = next((s for s in labels.segments if s.number == number), None)
            actor.SetVisibility(segment is not None and segment.visible)
            if segment is not None:
                actor.GetProperty().SetColor(*(c / 255 for c in segment.colour))

    def clear(self) -> None:
        for actor in self.actors.values():
            self.renderer.RemoveActor(actor)
        self.actors = {}
