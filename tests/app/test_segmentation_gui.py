"""The segment editor in the real window on the cirs CT: brush strokes, drawing, undo, statistics, SEG out.

Each result is checked against an independent source: the brush's voxels
against a disc computed here from the affine in LPS, the drawn frame against
the segment's colour blended over the image, both read back from the view's
frame as painted (``capture``), statistics against SimpleITK's
LabelStatistics, the SEG against dciodvfy and highdicom.
"""

from __future__ import annotations

import csv
import shutil
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.app.conftest import open_and_load
from tests.app.test_registration_ui import paired  # noqa: F401 - the fixture: demo CT fused with its MR

pytestmark = pytest.mark.gui
RADIUS_MM = 6.0


@pytest.fixture
def segmenting(qtbot, window, cirs_ct):
    """The window showing the cirs CT with new, empty labels; annotations off so pixels show image and labels."""
    open_and_load(qtbot, window, cirs_ct)
    window.model.set_crosshair_visible(False)
    window.model.set_annotations_visible(False)
    controller = window.segmentation
    assert controller.new_labels() is not None
    return window, controller


def disc(labels, centres: list[np.ndarray], normal: np.ndarray, radius: float) -> np.ndarray:
    """Voxels whose centres lie within ``radius`` of one of ``centres`` and in the slab of one voxel along ``normal``
    (half a voxel's extent either side), from the affine alone.

    Evaluated in a box of whole slices and rows around the centres, two voxels wider than the radius reaches
    (a whole-grid evaluation of the CT's centres would take gigabytes); outside it nothing can be in.
    """
    affine = labels.volume.affine
    inverse = np.linalg.inv(affine)
    reach = radius / np.linalg.norm(affine[:3, :3], axis=0) + 2
    index = np.array([(inverse @ [*c, 1.0])[:3] for c in centres])
    low = np.maximum(np.floor(index.min(axis=0) - reach), 0).astype(int)
    high = np.minimum(np.ceil(index.max(axis=0) + reach) + 1, labels.array.shape[::-1]).astype(int)
    k, j, i = np.meshgrid(*(np.arange(lo, hi) for lo, hi in zip(low[::-1], high[::-1], strict=True)), indexing="ij")
    lps = (np.stack([i, j, k, np.ones_like(i)], axis=-1).astype(np.float64) @ affine.T)[..., :3]
    half = 0.5 * np.abs(affine[:3, :3].T @ normal).sum()
    inside = np.zeros(labels.array.shape, bool)
    box = inside[low[2]:high[2], low[1]:high[1], low[0]:high[0]]
    for c in centres:
        offset = lps - c
        box |= (np.einsum("...d,...d->...", offset, offset) <= radius ** 2) & (np.abs(offset @ normal) < half)
    return inside


def assert_valid(path) -> None:
    """dciodvfy reports no Error line for the object at ``path``."""
    dciodvfy = shutil.which("dciodvfy")
    assert dciodvfy, "dciodvfy (Debian package dicom3tools) is required"
    report = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True)
    errors = [line for line in (report.stdout + report.stderr).splitlines() if line.startswith("Error")]
    assert not errors, errors


def drag(canvas, points: list[tuple[int, int]]) -> None:
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*points[0]))
    for p in points[1:]:
        QTest.mouseMove(canvas, QPoint(*p))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*points[-1]))


def paint_sphere(window, controller, radius_mm: float = RADIUS_MM) -> np.ndarray:
    """A click with the 3D brush at the middle of the axial view; the LPS point it painted around."""
    view = window.viewer.slice_view("axial")
    controller.editor.radius.setValue(radius_mm)
    controller.editor.sphere.setChecked(True)
    controller.editor.tool_buttons["paint"].click()
    x, y = view.canvas.width() // 2, view.canvas.height() // 2
    drag(view.canvas, [(x, y)])
    return view.display_to_world(x, y)


def test_a_brush_stroke_paints_the_disc_in_lps_draws_the_segment_colour_and_undoes(qtbot, segmenting):
    window, controller = segmenting
    view = window.viewer.slice_view("axial")
    labels = controller.labels
    controller.editor.radius.setValue(RADIUS_MM)
    controller.editor.tool_buttons["paint"].click()
    w, h = view.canvas.width(), view.canvas.height()
    points = [(w // 2 - 10, h // 2), (w // 2 + 15, h // 2 + 5)]
    centres = [view.display_to_world(*p) for p in points]
    before = view.capture()

    drag(view.canvas, points)

    expected = disc(labels, centres, np.asarray(view.shown.normal), RADIUS_MM)
    painted = labels.array == 1
    assert expected.sum() > 50
    assert np.array_equal(painted, expected), (painted.sum(), expected.sum())

    segment = labels.segment(1)
    after = view.capture()
    x, y = points[0]
    blend = 0.5 * np.asarray(segment.colour) + 0.5 * before[y, x].astype(float)  # segment opacity 0.5
    assert np.all(np.abs(after[y, x].astype(float) - blend) <= 3), (after[y, x], blend)
    # outside the disc, the image as it was
    far = (x, int(y + (RADIUS_MM + 5) / view.mm_per_pixel()))
    assert np.array_equal(after[far[1], far[0]], before[far[1], far[0]])

    controller.editor.undo_button.click()
    assert not labels.array.any()
    assert np.array_equal(view.capture()[y, x], before[y, x])
    controller.editor.redo_button.click()
    assert np.array_equal(labels.array == 1, expected)

    controller.editor.tool_buttons["erase"].click()
    drag(view.canvas, [points[0]])
    assert np.array_equal(labels.array == 1, expected & ~disc(labels, centres[:1], np.asarray(view.shown.normal),
                                                                  RADIUS_MM))
    controller.editor.undo_button.click()  # the erase only
    assert np.array_equal(labels.array == 1, expected)


def test_threshold_statistics_match_simpleitk_and_csv(qtbot, segmenting, tmp_path):
    window, controller = segmenting
    image, labels = window.model.volume(), controller.labels
    controller.editor.lower.setValue(150.0)
    controller.editor.upper.setValue(3000.0)
    with qtbot.waitSignal(controller.finished, timeout=60_000):
        controller.run_action("threshold")
    mask = (image.array >= 150) & (image.array <= 3000)
    assert np.array_equal(labels.array == 1, mask)
    controller.add_segment()
    with qtbot.waitSignal(controller.finished, timeout=60_000):
        controller.run_action("threshold")  # segment 2 takes nothing: the voxels are segment 1's
    assert not (labels.array == 2).any()

    with qtbot.waitSignal(controller.finished, timeout=120_000):
        controller.compute_statistics()
    row = controller.statistics_rows()[0]
    stats = sitk.LabelStatisticsImageFilter()
    label_image = sitk.GetImageFromArray(labels.array)
    label_image.CopyInformation(image.to_sitk())
    stats.Execute(image.to_sitk(), label_image)
    assert row.voxels == stats.GetCount(1)
    assert row.volume_ml == pytest.approx(stats.GetCount(1) * np.prod(image.spacing) / 1000, rel=1e-9)
    assert row.mean == pytest.approx(stats.GetMean(1), rel=1e-9)
    assert row.sd == pytest.approx(stats.GetSigma(1), rel=1e-6)
    assert (row.minimum, row.maximum) == (stats.GetMinimum(1), stats.GetMaximum(1))
    assert row.median == float(np.median(image.array[mask]))
    assert controller.statistics.table.rowCount() == 2

    out = tmp_path / "segments.csv"
    controller.export_csv(out)
    with open(out, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert int(rows[0]["voxels"]) == stats.GetCount(1) and int(rows[1]["voxels"]) == 0


def test_region_growing_from_a_click_matches_connected_threshold(qtbot, segmenting):
    window, controller = segmenting
    image, labels = window.model.volume(), controller.labels
    view = window.viewer.slice_view("axial")
    controller.editor.lower.setValue(-200.0)
    controller.editor.upper.setValue(200.0)
    controller.editor.tool_buttons["grow"].click()
    x, y = view.canvas.width() // 2, view.canvas.height() // 2
    seed = view.display_to_world(x, y)
    with qtbot.waitSignal(controller.finished, timeout=60_000):
        QTest.mouseClick(view.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x, y))
    index = [int(v) for v in np.rint(np.linalg.solve(image.affine, [*seed, 1.0])[:3])]
    grown = sitk.ConnectedThreshold(image.to_sitk(), seedList=[index], lower=-200, upper=200, replaceValue=1,
                                    connectivity=sitk.ConnectedThresholdImageFilter.FaceConnectivity)
    assert np.array_equal(labels.array == 1, sitk.GetArrayFromImage(grown) == 1)
    assert (labels.array == 1).sum() > 1000


def test_seg_saved_from_the_window_passes_dciodvfy_and_reads_back(qtbot, segmenting, tmp_path):
    window, controller = segmenting
    paint_sphere(window, controller)
    painted = controller.labels.array.copy()
    assert painted.any() and len(np.flatnonzero(painted.any(axis=(1, 2)))) > 1  # a sphere spans slices

    out = tmp_path / "seg.dcm"
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        controller.save_seg(out)
    assert_valid(out)

    seg = hd.seg.segread(out)
    dataset = pydicom.dcmread(out)
    image = window.model.volume()
    by_position = {}
    for n, frame in enumerate(dataset.PerFrameFunctionalGroupsSequence):
        position = np.asarray(frame.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        k = int(round(np.linalg.solve(image.affine, [*position, 1.0])[2]))
        by_position[k] = seg.pixel_array[n] if seg.pixel_array.ndim == 3 else seg.pixel_array
    read_back = np.zeros_like(painted)
    for k, frame in by_position.items():
        read_back[k] = frame
    assert np.array_equal(read_back, painted)


def test_surfaces_in_3d_enclose_the_painted_sphere(qtbot, segmenting):
    window, controller = segmenting
    centre = paint_sphere(window, controller)
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        controller.show_surfaces()
    actor = controller.surfaces.actors[1]
    bounds = np.asarray(actor.GetBounds()).reshape(3, 2)  # LPS, through the actor's placement
    spacing = np.asarray(window.model.volume().spacing)
    # the surface passes between the sphere's outer voxels and the next ones: within a voxel of the radius
    assert np.all(np.abs(bounds[:, 0] - (centre - RADIUS_MM)) <= spacing), (bounds, centre)
    assert np.all(np.abs(bounds[:, 1] - (centre + RADIUS_MM)) <= spacing), (bounds, centre)
    assert window.viewer.volume_view() in window.viewer.visible_views()


def test_a_dcmqi_seg_filed_in_the_library_opens_on_its_images(qtbot, window, seg_samples):
    case = seg_samples / "dcmqi" / "23x38x3"
    with qtbot.waitSignal(window.libraryListed, timeout=120_000):
        window.import_folder(case)
    key = next(k for k, e in window.catalog.entries.items()
               if e.files and all("/image/" in f for f in e.files))
    with qtbot.waitSignal(window.volumeLoaded, timeout=60_000):
        window.load_series(key)
    controller = window.segmentation
    assert controller.editor.objects.count() == 1
    window.model.set_crosshair_visible(False)
    window.model.set_annotations_visible(False)
    view = window.viewer.slice_view("axial")

    expected = sitk.ReadImage(str(case / "nrrd" / "label.nrrd"))
    values = sitk.GetArrayFromImage(expected)
    k, j, i = np.argwhere(values > 0)[len(np.argwhere(values > 0)) // 2]
    lps = np.asarray(expected.TransformIndexToPhysicalPoint([int(i), int(j), int(k)]))
    window.model.set_position(lps)
    window.viewer.flush()
    before = view.capture()

    with qtbot.waitSignal(controller.finished, timeout=60_000):
        controller.editor.open_object_button.click()
    labels = controller.labels
    assert labels is not None
    for index in np.argwhere(values > 0):  # every labelled voxel of the source label map, by its LPS position
        point = expected.TransformIndexToPhysicalPoint([int(v) for v in index[::-1]])
        ii, jj, kk = np.rint(labels.volume.world_to_index(point)).astype(int)
        assert labels.array[kk, jj, ii] != 0
    assert np.count_nonzero(labels.array) == np.count_nonzero(values)

    window.viewer.flush()
    x, y = (int(round(c)) for c in view.world_to_display(lps))
    segment = labels.segment(int(labels.array[tuple(np.rint(labels.volume.world_to_index(lps)).astype(int)[::-1])]))
    blend = segment.opacity * np.asarray(segment.colour) + (1 - segment.opacity) * before[y, x].astype(float)
    shown = view.capture()[y, x].astype(float)
    assert np.all(np.abs(shown - blend) <= 3) or np.all(np.abs(shown - np.asarray(segment.colour)) <= 3), \
        (shown, blend)  # fill, or the outline on a small segment


def test_threshold_preview_shows_the_range_live_on_the_slice(qtbot, segmenting):
    window, controller = segmenting
    window.model.set_interpolation(False)  # the axial view's pixels are then the voxels of its slice
    view = window.viewer.slice_view("axial")
    image = window.model.volume()
    window.viewer.flush()
    before = view.capture()
    k = int(round(image.world_to_index(view.shown.center)[2]))
    values = image.array[k]
    rows, cols = values.shape
    in_range = (values >= -100) & (values <= 200)  # the phantom's soft-tissue body

    def amid(mask: np.ndarray) -> np.ndarray:
        """A voxel of the slice whose 7 x 7 neighbours are all in ``mask`` (a pixel on screen is more than one
        voxel: an isolated voxel need not show), taken from the middle of those found."""
        found = [p for p in np.argwhere(mask[8:-8, 8:-8]) + 8 if mask[p[0] - 3:p[0] + 4, p[1] - 3:p[1] + 4].all()]
        return found[len(found) // 2]

    inside, outside = amid(in_range), amid(values < -500)  # air
    controller.editor.lower.setValue(-100.0)
    controller.editor.upper.setValue(200.0)
    controller.editor.preview.setChecked(True)
    shown = view.capture()
    colour = np.asarray(controller.labels.segment(1).colour, dtype=float)
    alpha = 160 / 255
    for (j, i), previewed in ((inside, True), (outside, False)):
        x, y = (int(round(c)) for c in view.world_to_display(image.index_to_world([i, j, k])))
        expected = alpha * colour + (1 - alpha) * before[y, x] if previewed else before[y, x].astype(float)
        assert np.all(np.abs(shown[y, x] - expected) <= 3), (previewed, shown[y, x], expected)
    assert not controller.labels.array.any()  # a preview writes nothing
    controller.editor.preview.setChecked(False)
    x, y = (int(round(c)) for c in view.world_to_display(image.index_to_world([inside[1], inside[0], k])))
    assert np.array_equal(view.capture()[y, x], before[y, x])


def test_segment_statistics_go_into_the_sr_beside_the_measurements(qtbot, segmenting, tmp_path):
    window, controller = segmenting
    paint_sphere(window, controller)
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        controller.compute_statistics()
    seg = tmp_path / "seg.dcm"
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        controller.save_seg(seg)
    volume_ml = controller.statistics_rows()[0].volume_ml
    assert volume_ml == pytest.approx(np.count_nonzero(controller.labels.array)
                                      * abs(np.linalg.det(window.model.volume().affine[:3, :3])) / 1000)
    out = tmp_path / "report.dcm"
    failures: list[str] = []
    window.jobFailed.connect(failures.append)
    with qtbot.waitSignal(window.runner.jobsChanged, check_params_cb=lambda n: n == 0, timeout=120_000):
        window.export_sr(out)
    assert not failures
    assert_valid(out)

    def numbers(items):
        for item in items:
            if item.ValueType == "NUM":
                yield item
            yield from numbers(item.get("ContentSequence", []))

    report = pydicom.dcmread(out)
    volumes = [float(item.MeasuredValueSequence[0].NumericValue) for item in numbers(report.ContentSequence)
               if item.ConceptNameCodeSequence[0].CodeMeaning == "Volume"]
    assert volumes == [pytest.approx(volume_ml, rel=1e-6)]
    referenced = pydicom.dcmread(seg)
    assert referenced.SOPInstanceUID in str(report.CurrentRequestedProcedureEvidenceSequence)

    assert controller.statistics.stale.isHidden()
    controller.editor.undo_button.click()  # the labels change: the statistics no longer describe them
    assert controller.report_segments() == ([], None)
    assert not controller.statistics.stale.isHidden() and not controller.statistics.table.isEnabled()


def test_keep_largest_island_as_a_job_is_one_undoable_edit(qtbot, segmenting):
    window, controller = segmenting
    view = window.viewer.slice_view("axial")
    labels = controller.labels
    controller.editor.tool_buttons["paint"].click()
    w, h = view.canvas.width(), view.canvas.height()
    controller.editor.radius.setValue(8.0)
    drag(view.canvas, [(w // 2 - 60, h // 2)])   # the larger island
    controller.editor.radius.setValue(3.0)
    drag(view.canvas, [(w // 2 + 60, h // 2)])   # the smaller one, far from it
    painted = labels.array.copy()
    pieces = sitk.GetArrayFromImage(sitk.RelabelComponent(sitk.ConnectedComponent(
        sitk.GetImageFromArray(painted), False), sortByObjectSize=True))
    assert pieces.max() == 2
    with qtbot.waitSignal(controller.finished, timeout=120_000):
        controller.run_action("keep largest")
    assert np.array_equal(labels.array == 1, pieces == 1)
    controller.editor.undo_button.click()
    assert np.array_equal(labels.array, painted)


def test_the_selected_segment_is_the_registration_runs_fixed_mask(qtbot, paired):  # noqa: F811 - the fixture
    window, registration = paired
    controller = window.segmentation
    controller.new_labels()  # on the fixed CT, which the fused views show
    paint_sphere(window, controller, 20.0)
    painted = controller.labels.array == 1
    controller.editor.registration_mask.setChecked(True)

    qtbot.mouseClick(registration.panel.run_button, Qt.MouseButton.LeftButton)
    handle = registration.job
    _fixed, _moving, request = handle.job.args
    fixed = registration.fixed.volume
    assert request.fixed_mask_name == "Segment 1" and request.to_dict()["fixed_mask"] == "Segment 1"
    assert np.array_equal(request.fixed_mask.array.astype(bool), painted)
    assert np.allclose(request.fixed_mask.affine, fixed.affine) and request.fixed_mask.array.shape == fixed.array.shape
    with qtbot.waitSignal(registration.runFailed, timeout=120_000):
        qtbot.mouseClick(registration.panel.cancel_button, Qt.MouseButton.LeftButton)
        assert handle.wait(60.0)
