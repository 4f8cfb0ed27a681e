"""Segmentation tools on exact synthetic grids, checked against SimpleITK's voxel positions and known shapes."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from segmentation.grow import SegmentationError, grow_from_seeds, region_grow, threshold
from segmentation.history import EditHistory
from segmentation.islands import islands, keep_largest, remove_small, split
from segmentation.morphology import fill_between_slices, fill_holes, radius_voxels, smooth
from segmentation.paint import erase, paint
from tests.segmentation.grids import CancelAfter, CancelAt, ball, labels_on, oblique_grid, voxel_centres
from workstation.errors import Cancelled
from workstation.jobs import no_progress
from workstation.labels import LabelMap
from workstation.volume import Volume


def test_sphere_brush_paints_the_voxels_within_its_radius_in_lps():
    grid = oblique_grid()
    labels = labels_on(grid, 1)
    centre = grid.index_to_world([25, 30, 20]) + [0.2, -0.3, 0.1]
    paint(labels, 1, centre, 8.0)
    expected = ball(grid, centre, 8.0)
    assert np.array_equal(labels.array == 1, expected)
    voxel_ml = abs(np.linalg.det(grid.affine[:3, :3])) / 1000
    assert labels.array.sum() * voxel_ml == pytest.approx(4 / 3 * np.pi * 8.0 ** 3 / 1000, rel=0.03)


def test_disc_brush_in_a_slice_plane_paints_that_slice_only():
    grid = Volume.from_parts(np.zeros((30, 80, 80), np.int16), (0.5, 0.5, 2.0), (0, 0, 0), np.eye(3))
    labels = labels_on(grid, 1)
    paint(labels, 1, grid.index_to_world([40, 40, 12]), 10.0, normal=[0, 0, 1])
    painted = np.flatnonzero(labels.array.any(axis=(1, 2)))
    assert painted.tolist() == [12]
    assert labels.array.sum() * 0.25 == pytest.approx(np.pi * 100, rel=0.02)


def test_paint_keeps_other_segments_unless_told_and_erase_removes_one_segment():
    grid = oblique_grid()
    labels = labels_on(grid, 1, 2)
    a, b = grid.index_to_world([20, 30, 20]), grid.index_to_world([28, 30, 20])
    paint(labels, 1, a, 6.0)
    paint(labels, 2, b, 6.0)
    both = ball(grid, a, 6.0) & ball(grid, b, 6.0)
    assert both.any() and np.all(labels.array[both] == 1)
    paint(labels, 2, b, 6.0, overwrite=True)
    assert np.all(labels.array[both] == 2)
    erase(labels, b, 20.0, number=1)
    assert np.array_equal(labels.array == 2, ball(grid, b, 6.0)) and not (labels.array == 1).any()


def test_undo_and_redo_restore_the_map_and_store_only_the_changed_boxes():
    grid = oblique_grid()
    labels = labels_on(grid, 1)
    history = EditHistory(labels)
    snapshots = [labels.array.copy()]
    for n, point in enumerate(([20, 30, 20], [30, 20, 10], [10, 40, 30])):
        paint(labels, 1, grid.index_to_world(point), 4.0 + n, history=history)
        snapshots.append(labels.array.copy())
    assert history.nbytes() < 0.2 * labels.array.nbytes * 3
    for expected in reversed(snapshots[:-1]):
        history.undo()
        assert np.array_equal(labels.array, expected)
    assert history.undo() is None and not history.can_undo
    history.redo()
    history.redo()
    assert np.array_equal(labels.array, snapshots[2])
    erase(labels, grid.index_to_world([20, 30, 20]), 3.0, history=history)
    assert not history.can_redo


def test_threshold_and_region_grow_follow_face_connectivity():
    grid = oblique_grid((20, 30, 30))
    image = grid.array
    image[5:15, 5:15, 5:15] = 50  # a cube
    image[15, 15, 15] = 50  # touches the cube at a corner only: not face-connected
    image[5:15, 5:15, 20:25] = 60  # a separate block
    mask = region_grow(no_progress, None, grid, grid, grid.index_to_world([8, 8, 8]), 0, 100)
    components = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(
        threshold(grid, 0, 100).astype(np.uint8)), False))
    assert np.array_equal(mask, components == components[8, 8, 8])
    assert mask.sum() == 1000 and not mask[15, 15, 15]


def test_region_grow_refuses_a_seed_outside_or_out_of_range_and_can_be_cancelled():
    grid = oblique_grid((20, 30, 30))
    with pytest.raises(SegmentationError, match="outside the image"):
        region_grow(no_progress, None, grid, grid, grid.index_to_world([-5, 0, 0]), 0, 100)
    with pytest.raises(SegmentationError, match="outside the range"):
        region_grow(no_progress, None, grid, grid, grid.index_to_world([5, 5, 5]), 0, 100)
    with pytest.raises(Cancelled):
        region_grow(no_progress, CancelAfter(0), grid, grid, grid.index_to_world([5, 5, 5]), -2000, 100)


def test_grow_from_seeds_splits_two_regions_at_their_edge():
    grid = oblique_grid((20, 40, 40))
    rng = np.random.default_rng(1)
    grid.array[:] = rng.normal(0, 5, grid.array.shape)
    grid.array[:, :, 22:] += 200
    seeds = labels_on(grid, 1, 2)
    paint(seeds, 1, grid.index_to_world([5, 20, 10]), 3.0)
    paint(seeds, 2, grid.index_to_world([35, 20, 10]), 3.0)
    grown = grow_from_seeds(no_progress, None, grid, seeds)
    assert np.mean(grown[:, :, :21] == 1) > 0.99 and np.mean(grown[:, :, 23:] == 2) > 0.99


def test_islands_keep_largest_remove_small_and_split():
    grid = oblique_grid()
    labels = labels_on(grid, 1)
    off = np.array([0.13, -0.21, 0.17])  # off voxel centres: no voxel lies exactly on a ball's edge
    big, small = grid.index_to_world([15, 30, 20]) + off, grid.index_to_world([38, 30, 20]) + off
    paint(labels, 1, big, 8.0)
    paint(labels, 1, small, 4.0)
    labels.array[2, 2, 2] = 1
    history = EditHistory(labels)
    keep_largest(no_progress, None, labels, 1, history)
    assert np.array_equal(labels.array == 1, ball(grid, big, 8.0))
    history.undo()
    remove_small(no_progress, None, labels, 1, 2, history)
    assert np.array_equal(labels.array == 1, ball(grid, big, 8.0) | ball(grid, small, 4.0))
    new = split(no_progress, None, labels, 1, history)
    assert new == [2] and labels.segment(2).label == "Segment 1 2"
    assert np.array_equal(labels.array == 2, ball(grid, small, 4.0))


def test_fill_holes_fills_a_hollow_ball():
    grid = oblique_grid()
    labels = labels_on(grid, 1)
    centre = grid.index_to_world([25, 30, 20]) + [0.13, -0.21, 0.17]
    labels.array[ball(grid, centre, 10.0) & ~ball(grid, centre, 6.0)] = 1
    fill_holes(no_progress, None, labels, 1)
    assert np.array_equal(labels.array == 1, ball(grid, centre, 10.0))


def test_fill_between_slices_fills_the_slices_between_two_drawn_discs():
    grid = Volume.from_parts(np.zeros((20, 60, 60), np.int16), (1.0, 1.0, 2.0), (0, 0, 0), np.eye(3))
    labels = labels_on(grid, 1)
    for k in (4, 14):
        paint(labels, 1, grid.index_to_world([30, 30, k]), 10.0, normal=[0, 0, 1])
    fill_between_slices(no_progress, None, labels, 1)
    slices = labels.array.sum(axis=(1, 2))
    assert np.flatnonzero(slices).tolist() == list(range(4, 15))
    assert np.all(np.abs(slices[4:15] - slices[4]) <= 0.05 * slices[4])


def test_smoothing_opening_cuts_a_thin_spur():
    grid = Volume.from_parts(np.zeros((30, 30, 30), np.int16), (1.0, 1.0, 1.0), (0, 0, 0), np.eye(3))
    labels = labels_on(grid, 1)
    labels.array[5:20, 5:20, 5:20] = 1
    labels.array[12, 12, 20:28] = 1  # one voxel thick
    smooth(no_progress, None, labels, 1, 1.0, "opening")
    assert labels.array[12, 12, 20:28].sum() == 0 and labels.array[6:19, 6:19, 6:19].all()


def test_voxel_centres_helper_agrees_with_the_affine():
    grid = oblique_grid((4, 5, 6))
    assert np.allclose(voxel_centres(grid)[3, 2, 1], grid.index_to_world([1, 2, 3]))


STOPPABLE = {
    # ConnectedThreshold reports every 1 % of the image filled and hands a region past 2 % to the component
    # search: cancelled at its first report, it stops at the next
    "region growing": (0.01, lambda c, labels, history: region_grow(c.progress, c, labels.volume, labels.volume,
                                                                    [30, 30, 30], 0, 10)),
    "smoothing (median)": (0.3, lambda c, labels, history: smooth(c.progress, c, labels, 1, 3.0, "median", history)),
    "smoothing (opening)": (0.3, lambda c, labels, history: smooth(c.progress, c, labels, 1, 3.0, "opening", history)),
    "smoothing (closing)": (0.3, lambda c, labels, history: smooth(c.progress, c, labels, 1, 3.0, "closing", history)),
    "hole filling": (0.3, lambda c, labels, history: fill_holes(c.progress, c, labels, 1, history)),
}


def _rough_cube() -> LabelMap:
    grid = Volume.from_parts(np.zeros((64, 64, 64), np.int16), (1.0, 1.0, 1.0), (0, 0, 0), np.eye(3))
    labels = labels_on(grid, 1)
    labels.array[8:56, 8:56, 8:56] = 1
    labels.array[::7, ::5, ::3] = 0  # holes and a rough surface: every filter has work in each pass
    return labels


@pytest.mark.parametrize("tool", sorted(STOPPABLE))
def test_a_3d_tool_cancelled_mid_filter_stops_there_and_leaves_the_map_as_it_was(tool):
    fraction, run = STOPPABLE[tool]
    uncancelled = CancelAt(2.0)  # never turns on: every progress step of a whole run
    run(uncancelled, _rough_cube(), None)
    labels = _rough_cube()
    before = labels.array.copy()
    history = EditHistory(labels)
    cancel = CancelAt(fraction)  # turned on from the job's own progress: no timing involved
    with pytest.raises(Cancelled):
        run(cancel, labels, history)
    assert fraction <= cancel.seen[-1] < 1.0  # it was inside the filter, and no later step was reported
    remaining = sum(f > cancel.seen[-1] for f in uncancelled.seen)
    # SimpleITK stopped at its next progress step: the flag was read there, at the closing events of the
    # filter (and its inner filters) and once after Execute, not at each of the steps a whole run has left. How
    # many closing events come depends on the filter's threads (hole filling: 5 mostly, 7 once in CI), so the
    # bound is a quarter of the steps left (33 to 560 here); a filter that ran on would ask at every one.
    assert 1 <= cancel.asked_while_set <= remaining // 4
    assert np.array_equal(labels.array, before) and not history.can_undo


def test_a_large_region_grows_as_connected_threshold_would():
    """Past LARGE_REGION of the image the fill stops and the seed's component is searched: the same voxels."""
    labels = _rough_cube()
    image = labels.volume
    image.array[56, 56, 56] = 1  # touches the cube at a corner only: not reached through faces
    messages = []
    grown = region_grow(lambda fraction, message: messages.append(message), None, image, image,
                        image.index_to_world([30, 30, 30]), 1, 1)
    expected = sitk.ConnectedThreshold(image.to_sitk(), seedList=[(30, 30, 30)], lower=1, upper=1,
                                       connectivity=sitk.ConnectedThresholdImageFilter.FaceConnectivity)
    assert "region growing (components)" in messages  # the large-region way was taken
    assert np.array_equal(grown, sitk.GetArrayFromImage(expected) == 1)
    assert grown.sum() > 0.02 * grown.size and not grown[56, 56, 56]
    messages.clear()
    alone = region_grow(lambda fraction, message: messages.append(message), None, image, image,
                        image.index_to_world([56, 56, 56]), 1, 1)
    assert alone.sum() == 1 and alone[56, 56, 56] and "region growing (components)" not in messages  # the fill


def test_a_large_region_cancelled_in_its_component_search_stops_at_the_next_slab():
    labels = _rough_cube()
    cancel = CancelAt(0.5)  # past the fill's 2 % and the threshold: inside the component search
    with pytest.raises(Cancelled):
        region_grow(cancel.progress, cancel, labels.volume, labels.volume, [30, 30, 30], 0, 10)
    assert 0.5 <= cancel.seen[-1] < 1.0 and cancel.asked_while_set == 1


def test_islands_cancelled_while_running_leave_the_map_as_it_was():
    """The island search stops at its next slab once cancelled, and nothing changes."""
    grid = Volume.from_parts(np.zeros((64, 64, 64), np.int16), (1.0, 1.0, 1.0), (0, 0, 0), np.eye(3))
    labels = labels_on(grid, 1)
    labels.array[::4, ::4, ::4] = 1
    before = labels.array.copy()
    history = EditHistory(labels)
    cancel = CancelAt(0.5)
    with pytest.raises(Cancelled):
        keep_largest(cancel.progress, cancel, labels, 1, history)
    assert 0.5 <= cancel.seen[-1] < 1.0 and cancel.asked_while_set == 1
    assert np.array_equal(labels.array, before) and not history.can_undo


def _whole_image(image_filter: sitk.ImageFilter, mask: np.ndarray) -> np.ndarray:
    return sitk.GetArrayFromImage(image_filter.Execute(sitk.GetImageFromArray(mask.astype(np.uint8))))


@pytest.mark.parametrize("method", ["median", "opening", "closing", "holes", "islands"])
def test_3d_tools_on_the_segment_box_give_what_simpleitk_gives_on_the_whole_image(method):
    """The tools filter only the segment's box plus the filter's reach: the same voxels as the whole image."""
    grid = Volume.from_parts(np.zeros((40, 48, 56), np.int16), (0.8, 1.0, 2.0), (0, 0, 0), np.eye(3))
    rng = np.random.default_rng(7)
    labels = labels_on(grid, 1, 2)
    labels.array[10:30, 0:20, 15:40] = rng.random((20, 20, 25)) < 0.7  # rough, with holes; touches a border
    labels.array[12:28, 5:15, 20:35][rng.random((16, 10, 15)) < 0.05] = 0
    labels.array[35:38, 40:44, 50:54] = 2  # another segment: left alone
    mask = labels.array == 1
    radius = radius_voxels(labels, 2.0)  # (i, j, k) voxels: anisotropic
    if method in ("median", "opening", "closing"):
        smooth(no_progress, None, labels, 1, 2.0, method)
        peer = {"median": sitk.BinaryMedianImageFilter, "opening": sitk.BinaryMorphologicalOpeningImageFilter,
                "closing": sitk.BinaryMorphologicalClosingImageFilter}[method]()
        if method == "median":
            peer.SetRadius(radius)
        else:
            peer.SetKernelRadius(radius)
            peer.SetForegroundValue(1)
        expected = _whole_image(peer, mask) != 0
    elif method == "holes":
        fill_holes(no_progress, None, labels, 1)
        expected = (_whole_image(sitk.BinaryFillholeImageFilter(), mask) != 0) | mask
    else:
        pieces = islands(no_progress, None, labels, 1)
        components = sitk.ConnectedComponentImageFilter()
        components.SetFullyConnected(False)
        relabelled = sitk.RelabelComponent(components.Execute(sitk.GetImageFromArray(mask.astype(np.uint8))),
                                           sortByObjectSize=True)
        sizes = np.bincount(sitk.GetArrayFromImage(relabelled).ravel())
        assert np.array_equal(np.bincount(pieces.ravel()), sizes)  # the same islands, largest first
        assert np.array_equal(pieces == 1, sitk.GetArrayFromImage(relabelled) == 1)
        return
    assert np.array_equal(labels.array == 1, expected & (labels.array != 2))
    assert (labels.array == 2).sum() == 3 * 4 * 4
