"""The viewer's pure state: windows, presets, slice stacks, oblique crosshair, reslice grids."""

from __future__ import annotations

import numpy as np
import pytest

from workstation import geometry
from workstation.geometry import spacing_along
from workstation.viewer_model.display import (
    VIEW_NAMES,
    MprState,
    SliceGrid,
    SliceStack,
    Window,
    default_window,
    display_plane,
    modality_presets,
    nice_length,
    preset_names,
    preset_window,
    slab_slices,
    window_from_percentiles,
)
from workstation.volume import Volume, VolumeMeta, WindowPreset

# A grid whose i runs to patient right, j to superior and k to anterior (a coronal acquisition
# stored "backwards"), anisotropic: every index-order assumption would show up.
CORONAL_DIRECTION = np.array([[-1.0, 0, 0], [0, 0, -1], [0, 1, 0]])


def coronal_volume(modality: str = "CT", presets: list[WindowPreset] | None = None) -> Volume:
    array = np.arange(7 * 6 * 5, dtype=np.int16).reshape(7, 6, 5)
    meta = VolumeMeta(modality=modality, window_presets=presets or [])
    return Volume.from_parts(array, [0.8, 1.5, 2.5], [10.0, -20.0, 30.0], CORONAL_DIRECTION, meta)


def test_window_bounds_and_drag_never_reaches_zero_width():
    w = Window(40, 400)
    assert (w.lower, w.upper) == (-160, 240)
    assert w.adjusted(10, -1000).width > 0
    assert w.adjusted(10, -100) == Window(50, 300)


def test_percentile_window_spans_the_requested_percentiles():
    w = window_from_percentiles(np.arange(1000, dtype=np.float32).reshape(10, 10, 10), 10, 90)
    assert w.lower == pytest.approx(99.9) and w.upper == pytest.approx(899.1)


def test_ct_presets_come_from_the_resource_file_and_header_wins():
    names = [p.name for p in modality_presets("CT")]
    for expected in ("Brain", "Subdural", "Stroke", "Lung", "Bone", "Abdomen", "Liver", "Mediastinum"):
        assert expected in names
    ct = coronal_volume()
    assert preset_window(ct, "lung") == Window(-600, 1500)
    assert default_window(ct) == preset_window(ct, "Abdomen")
    header = coronal_volume(presets=[WindowPreset("Lung", 100, 1200), WindowPreset("Scanner", 1, 2)])
    assert preset_window(header, "Lung") == Window(100, 1200)
    assert default_window(header) == Window(100, 1200)
    assert preset_names(header)[:2] == ["Lung", "Scanner"] and preset_names(header)[-1] == "Auto"
    with pytest.raises(KeyError):
        preset_window(ct, "No such preset")


def test_mr_opens_with_an_automatic_window_from_its_values():
    mr = coronal_volume("MR")
    assert modality_presets("MR") == []
    w = default_window(mr)
    values = mr.array.ravel()
    assert values.min() <= w.lower < w.upper <= values.max()
    assert w == preset_window(mr, "Auto")


def test_spacing_along_grid_axes_and_diagonals():
    v = coronal_volume()
    assert spacing_along(v.affine, [1, 0, 0]) == pytest.approx(0.8)  # i axis (to the right)
    assert spacing_along(v.affine, [0, 0, 1]) == pytest.approx(1.5)  # j axis (superior)
    assert spacing_along(v.affine, [0, 1, 0]) == pytest.approx(2.5)  # k axis
    iso = Volume(np.zeros((2, 2, 2)), np.eye(4))
    assert spacing_along(iso.affine, np.array([1, 1, 0]) / np.sqrt(2)) == pytest.approx(1.0)


def test_slice_stack_counts_and_snaps_onto_voxel_centres_whatever_the_index_order():
    v = coronal_volume()
    stack = SliceStack.of(v, np.array([0.0, 1.0, 0.0]))  # the coronal normal (posterior): k runs anterior
    assert stack.count == 7 and stack.step == pytest.approx(2.5)
    voxel = v.index_to_world([2, 3, 4])
    assert stack.index_of(voxel) == 2  # counted from the anterior end: k = 6 - 2
    off = voxel + [0.3, 1.0, -0.2]  # 1 mm along the normal: still the same slice
    snapped = stack.snapped(off)
    assert snapped @ [0, 1, 0] == pytest.approx(voxel[1])
    assert stack.snapped(off, slices=2)[1] == pytest.approx(v.index_to_world([0, 0, 2])[1])
    assert stack.snapped(off, slices=10)[1] == pytest.approx(v.index_to_world([0, 0, 0])[1])  # clamped
    axial = SliceStack.of(v, np.array([0.0, 0.0, 1.0]))  # j runs superior
    assert axial.count == 6 and axial.index_of(v.index_to_world([0, 5, 0])) == 5


def test_standard_planes_follow_the_radiological_convention():
    state = MprState(np.array([1.0, 2.0, 3.0]))
    for name in VIEW_NAMES:
        plane = state.plane(name)
        assert plane.right == geometry.STANDARD_AXES[name][0]
        assert np.allclose(plane.center, [1, 2, 3])
    assert state.plane("axial").edge_labels() == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert state.plane("sagittal").edge_labels() == {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    assert not state.oblique


def test_rotating_the_crosshair_turns_the_other_planes_only_and_keeps_them_perpendicular():
    state = MprState(np.zeros(3))
    state.rotate("axial", 30)
    assert np.allclose(state.plane("axial").right, [1, 0, 0])
    normals = np.array([state.plane(n).normal for n in VIEW_NAMES])
    assert np.allclose(normals @ normals.T, np.eye(3), atol=1e-12)
    # the coronal normal (+y) turned 30 degrees about the axial normal (+z)
    assert np.allclose(state.plane("coronal").normal, geometry.rotation_matrix([0, 0, 1], 30) @ [0, 1, 0])
    lines = state.crosshair_directions("axial")
    angle = np.degrees(np.arctan2(abs(lines["coronal"][1]), abs(lines["coronal"][0])))
    assert angle == pytest.approx(30)
    assert state.oblique
    state.reset_rotations()
    assert not state.oblique and state.crosshair_directions("axial")["coronal"] in [(1.0, 0.0), (-1.0, 0.0)]


def test_display_plane_is_anchored_to_the_volume_and_on_a_slice():
    v = coronal_volume()
    state = MprState(v.index_to_world([1.2, 2.0, 3.4]))
    shown = display_plane(v, state.plane("coronal"))
    assert shown.center[1] == pytest.approx(v.index_to_world([0, 0, 3])[1])  # nearest slice k=3
    moved = MprState(state.position + [5.0, 0, -4.0])  # in-plane move
    assert np.allclose(display_plane(v, moved.plane("coronal")).center, shown.center)


def test_slice_grid_samples_voxel_centres_in_an_aligned_plane():
    v = coronal_volume()
    plane = display_plane(v, MprState(v.center()).plane("coronal"))
    grid = SliceGrid.covering(v, plane)
    assert grid.size == (5, 6) and grid.spacing == pytest.approx((0.8, 1.5))
    corner = plane.to_world(*grid.origin)
    ijk = v.world_to_index(corner)
    assert np.allclose(ijk, np.rint(ijk), atol=1e-9)
    assert grid.half_extent == pytest.approx((2.0, 4.5))


def test_slab_and_scale_bar_helpers():
    assert slab_slices(10, 0.625) == 17 and slab_slices(0.1, 1) == 1 and slab_slices(2, 1) == 3
    assert nice_length(73) == 50 and nice_length(19.9) == 10 and nice_length(2.0) == 2 and nice_length(0.7) == 0.5


def test_a_header_window_that_whites_out_the_foreground_or_varies_by_slice_is_not_the_first_window():
    values = coronal_volume("MR", presets=[WindowPreset("Header", 3, 6)])  # values 0..209: all white above 6
    first = default_window(values)
    inside = values.array[values.array > values.array.mean()]
    assert np.mean(inside >= first.upper) < 0.05 and np.mean(inside <= first.lower) < 0.05
    assert preset_window(values, "Header") == Window(3, 6) and "Header" in preset_names(values)  # still offered
    readable = coronal_volume("MR", presets=[WindowPreset("Header", 105, 210)])
    assert default_window(readable) == Window(105, 210)
    readable.meta.extra["header_windows_vary"] = True  # the slices state different windows: none is the series'
    assert default_window(readable) != Window(105, 210)
