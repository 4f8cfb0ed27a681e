"""Benchmark: scrolling through the cirs057a CT (512 x 512 x 283) in the viewer.

Targets (issue 15): one view's slice change to finished frame <= 6 ms, a 1x3
wheel step <= 16 ms and a frame with everything on within one 60 Hz frame
(16.7 ms); reslice <= 10 ms (issue 10). Measured, over 100 slice steps each,
side by side in one run:

- reslice alone (``ResliceLayer.update`` of the axial view: the screen
  pixels' values), linear and nearest-neighbour interpolation, and a 10 mm
  MIP slab; at zoom 1 with interpolation on, the axial view of this axial
  series is its stored slice, gathered from the voxels without
  ``vtkImageReslice``, so the peer turns the axial plane by 1 degree: the
  reslice interpolating between voxel centres, as every oblique view does;
- one view: plane change + reslice + colouring + repaint with the overlays;
- the whole 1x3 layout: a wheel step moves the crosshair, so all three
  views repaint (the stepped one re-slices, the other two only repaint
  their overlays over their kept image); three wheel events in one
  event-loop turn (one deferred render per view); as a peer, the same step
  with every view forced to re-slice;
- a 60 Hz frame: the 1x3 wheel step with everything on (crosshair, corner
  text with a probe line, orientation letters, scale bar, a ruler and an
  ellipse in the coronal and sagittal views), and the cine through the axial
  slices as fast as the event loop turns (frames per second sustained);
- the peers: copying the same slice out of the numpy array; the old
  whole-frame path (the slice as a VTK image actor under VTK text and line
  props, one OpenGL frame per step, as the views drew before issue 15); and
  an empty VTK scene in a window of the same size (the floor of OpenGL here).

Run: ``xvfb-run -a .venv/bin/python tests/bench/bench_reslice.py`` or
``.venv/bin/pytest tests/bench/bench_reslice.py -s``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

STEPS = 100


def _median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def run(ct_folder: Path) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from tests.widgets.volumes import read_series
    from widgets.viewer import Viewer
    from workstation import measurements as mm
    from workstation.app.qt_fixes import install

    app = QApplication.instance() or QApplication([])
    install()
    volume = read_series(ct_folder)
    viewer = Viewer()
    viewer.resize(1536, 560)
    viewer.set_layout("1x3")
    viewer.show()
    app.processEvents()
    viewer.model.set_image(volume)
    app.processEvents()
    viewer.flush()
    axial = viewer.slice_view("axial")
    state = viewer.model.slot(0).state
    first = axial.stack.snapped(volume.center(), -STEPS // 2)
    results: dict[str, float] = {}

    def reslice_only(label: str) -> None:
        samples = []
        for n in range(STEPS):
            position = axial.stack.snapped(first, n)
            state.position = position
            axial.planes_changed()
            samples.append(axial.layer.update())
        results[label] = _median_ms(samples)

    reslice_only("reslice linear")
    viewer.model.rotate_crosshair("coronal", 1.0)
    reslice_only("peer: reslice linear, axial turned 1 degree")
    state.reset_rotations()
    viewer.model.set_interpolation(False)
    reslice_only("reslice nearest")
    viewer.model.set_interpolation(True)
    viewer.model.set_slab("mip", 10.0)
    reslice_only("reslice MIP 10 mm slab")
    viewer.model.set_slab("none")

    view_frames, view_reslices = [], []
    for n in range(STEPS):
        start = time.perf_counter()
        state.position = axial.stack.snapped(first, n)
        axial.planes_changed()
        view_reslices.append(axial.layer.update())
        axial.render()
        view_frames.append(time.perf_counter() - start)
    results["one view: slice change to finished frame"] = _median_ms(view_frames)
    results["one view: of which reslice"] = _median_ms(view_reslices)

    def layout_steps(label: str, events: int = 1, reslice_all: bool = False) -> None:
        """``events`` wheel steps in one event-loop turn, then the deferred render of the views and its end."""
        viewer.model.set_position(first)
        viewer.flush()
        frames = []
        for _ in range(STEPS):
            if reslice_all:  # the peer: every view re-slices, as before views kept an unchanged slice
                for name in ("axial", "coronal", "sagittal"):
                    viewer.slice_view(name).layer._placed = None
            start = time.perf_counter()
            for _ in range(events):
                viewer.model.step_slice("axial", 1)
            viewer.flush()
            frames.append(time.perf_counter() - start)
        results[label] = _median_ms(frames)

    layout_steps("1x3 layout: wheel step to finished frames")
    layout_steps("1x3 layout: 3 wheel events in one turn", events=3)
    layout_steps("peer: 1x3 step re-slicing all three views", reslice_all=True)

    # a 60 Hz frame with everything on: measurements stay in the views whose slice stays, a probe line shows
    centre = volume.center()
    for name in ("coronal", "sagittal"):
        view = viewer.slice_view(name)
        for kind, offsets in (("ruler", ([-40, -40, -20], [40, 40, 20])), ("ellipse", ([-30, -30, -30], [0, 0, 0]))):
            points = np.array([view.shown.to_world(*view.shown.to_plane(centre + o)[:2]) for o in offsets])
            viewer.model.add_measurement(mm.Measurement(kind, points, view.shown, volume.meta.series_uid))
    axial._set_probe_text(axial.probe_at(centre))
    layout_steps("60 Hz frame: 1x3 wheel step, everything on")
    viewer.model.set_position(first)
    viewer.flush()
    stepped = []
    viewer.model.slot(0).planes.connect(lambda: stepped.append(time.perf_counter()))
    viewer.start_cine("axial", fps=1000.0, over_time=False)
    while len(stepped) <= STEPS:
        app.processEvents()
    viewer.stop_cine()
    results["60 Hz frame: cine, everything on, per frame"] = 1000 * (stepped[-1] - stepped[0]) / STEPS
    viewer.model.set_position(first)
    viewer.flush()

    old_path(app, volume, axial, first, results)

    copies = []
    for n in range(STEPS):
        k = int(round(volume.world_to_index(axial.stack.snapped(first, n))[2]))
        start = time.perf_counter()
        volume.array[k].copy()
        copies.append(time.perf_counter() - start)
    results["peer: numpy copy of the stored slice"] = _median_ms(copies)

    print(f"volume {volume.shape_ijk} {volume.array.dtype}; axial view {axial.canvas.width()}x{axial.canvas.height()}"
          f" px; median of {STEPS} steps")
    base, empty = results["peer: numpy copy of the stored slice"], results["peer: empty scene, same window size"]
    for label, ms in results.items():
        print(f"  {label:45s} {ms:8.2f} ms  ({ms / base:6.1f} x numpy copy, {ms / empty:5.2f} x empty scene)")
    old = results["peer: old whole-frame path, one view"]
    print(f"one view: {old / results['one view: slice change to finished frame']:.1f} x faster than the old path;"
          f" cine {1000 / results['60 Hz frame: cine, everything on, per frame']:.0f} frames per second")
    print("targets: reslice <= 10 ms, one view <= 6 ms, 1x3 wheel step <= 16 ms, a frame with everything on"
          " <= 16.7 ms")
    viewer.close_views()
    return results


def old_path(app, volume, axial, first, results: dict[str, float]) -> None:
    """The peers in VTK and OpenGL: the old whole-frame path of one view, and an empty scene of the same size.

    The old path as the views drew until issue 15: the data-grid slice as a
    ``vtkImageActor`` through a lookup table, under a corner annotation,
    four orientation letters and three crosshair lines, every step one
    whole OpenGL frame (``Render`` + ``WaitForCompletion``).
    """
    from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
    from vtkmodules.vtkCommonCore import vtkLookupTable
    from vtkmodules.vtkImagingCore import vtkImageReslice
    from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation
    from vtkmodules.vtkRenderingCore import vtkImageActor, vtkRenderer

    from widgets.gl_info import renderer_string
    from widgets.slice_overlays import VIEW_COLORS
    from widgets.vtk_bridge import matrix4, text_actor, volume_image
    from workstation.geometry import Plane

    def window_of(renderer: vtkRenderer) -> tuple:
        canvas = QVTKRenderWindowInteractor()
        canvas.resize(axial.canvas.width(), axial.canvas.height())
        canvas.show()
        app.processEvents()
        window = canvas.GetRenderWindow()
        window.SetMultiSamples(0)
        window.AddRenderer(renderer)
        return canvas, window

    def frames(window, change) -> float:
        samples = []
        for n in range(STEPS):
            start = time.perf_counter()
            change(n)
            window.Render()
            window.WaitForCompletion()
            samples.append(time.perf_counter() - start)
        return _median_ms(samples)

    renderer = vtkRenderer()
    reslice = vtkImageReslice()
    reslice.SetInputData(volume_image(volume))
    reslice.SetOutputDimensionality(2)
    reslice.SetOutputDirection(1, 0, 0, 0, 1, 0, 0, 0, 1)
    reslice.SetInterpolationModeToLinear()
    grid = axial.grid
    reslice.SetOutputOrigin(grid.origin[0], grid.origin[1], 0.0)
    reslice.SetOutputSpacing(grid.spacing[0], grid.spacing[1], 1.0)
    reslice.SetOutputExtent(0, grid.size[0] - 1, 0, grid.size[1] - 1, 0, 0)
    lut = vtkLookupTable()
    window = axial.slot.window
    lut.SetRange(window.lower, window.upper)
    lut.SetRampToLinear()
    lut.SetSaturationRange(0, 0)
    lut.SetValueRange(0, 1)
    lut.Build()
    image = vtkImageActor()
    image.GetMapper().SetInputConnection(reslice.GetOutputPort())
    image.GetProperty().SetLookupTable(lut)
    image.GetProperty().UseLookupTableScalarRangeOn()
    renderer.AddActor(image)
    corners = vtkCornerAnnotation()
    corners.SetMaximumFontSize(14)
    renderer.AddViewProp(corners)
    for n, letter in enumerate("RLAP"):
        label = text_actor(18)
        label.SetInput(letter)
        label.SetPosition(10 + 100 * n, 200)
        renderer.AddViewProp(label)
    for n, color in enumerate(VIEW_COLORS.values()):
        line = line_of(color, n)
        renderer.AddActor(line)
    renderer.ResetCamera()
    canvas, render_window = window_of(renderer)

    def old_step(n: int) -> None:
        position = axial.stack.snapped(first, n)
        reslice.SetResliceAxes(matrix4(Plane(tuple(position), axial.shown.right, axial.shown.down).matrix()))
        corners.SetText(0, f"Slice {n}/283\nz {position[2]:.2f} mm")
        corners.SetText(3, "Axial\nCT\nSe 2")

    results["peer: old whole-frame path, one view"] = frames(render_window, old_step)
    print(f"\nOpenGL of the peers: {renderer_string(render_window)}")
    render_window.Finalize()
    canvas.close()

    canvas, render_window = window_of(vtkRenderer())
    results["peer: empty scene, same window size"] = frames(render_window, lambda n: None)
    render_window.Finalize()
    canvas.close()


def line_of(color: tuple[float, float, float], n: int):
    """A crosshair-like line prop (the old path drew three)."""
    from vtkmodules.vtkFiltersSources import vtkLineSource
    from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

    source = vtkLineSource()
    source.SetPoint1(-5000.0, 10.0 * n, -1.0)
    source.SetPoint2(5000.0, 10.0 * n, -1.0)
    actor = vtkActor()
    actor.SetMapper(vtkPolyDataMapper())
    actor.GetMapper().SetInputConnection(source.GetOutputPort())
    actor.GetProperty().SetColor(*color)
    actor.GetProperty().SetOpacity(0.75)
    return actor


def test_bench_reslice(qapp, cirs_ct):
    results = run(cirs_ct)
    assert all(ms > 0 for ms in results.values())


if __name__ == "__main__":
    import subprocess

    from tests.conftest import SHARED_DATA, TEST_DATA  # WORKSTATION_SHARED_DATA, as the tests find the data

    subprocess.run([sys.executable, str(SHARED_DATA / "unpack"), str(TEST_DATA)], check=True)
    run(TEST_DATA / "cirs057a" / "ct")
