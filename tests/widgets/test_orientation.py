"""Orientation on real series: labels, what each screen pixel shows, and the same anatomy at the same edges.

``dcm_qa_decubitus`` is one head scanned head-first supine, prone and in both
decubitus positions; the scanner's geometry carries the position, so in
patient planes the head must look the same way round in all four. The
cirs057a CT and MR are axial series of a phantom the MR sees turned.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.widgets.conftest import series
from workstation.viewer_model.display import VIEW_NAMES

STANDARD_LABELS = {
    "axial": {"left": "R", "right": "L", "top": "A", "bottom": "P"},
    "coronal": {"left": "R", "right": "L", "top": "S", "bottom": "I"},
    "sagittal": {"left": "A", "right": "P", "top": "S", "bottom": "I"},
}
LETTER_DIRECTION = {"L": [1, 0, 0], "R": [-1, 0, 0], "P": [0, 1, 0], "A": [0, -1, 0], "S": [0, 0, 1], "I": [0, 0, -1]}
POSITIONS = ("HFS", "HFP", "HFDR", "HFDL")


def shown_slice(view) -> np.ndarray:
    """The resliced image a view draws over the volume's footprint, rows top to bottom (v down), columns left to
    right (u right)."""
    rows, cols = view.footprint()
    return view.layer.values()[rows, cols].astype(np.float64)


def check_view_orientation(viewer, name: str, rng: np.random.Generator) -> None:
    """Labels are the standard ones, the screen edges point where they say, and pixels show the right voxels."""
    volume = viewer.model.volume()
    viewer.maximise(name)
    view = viewer.slice_view(name)
    assert view.edge_labels() == STANDARD_LABELS[name]
    w, h = view.canvas.width(), view.canvas.height()
    centre = view.display_to_world(w / 2, h / 2)
    edges = {"left": (0, h / 2), "right": (w - 1, h / 2), "top": (w / 2, 0), "bottom": (w / 2, h - 1)}
    for edge, (x, y) in edges.items():
        towards = view.display_to_world(x, y) - centre
        assert towards @ LETTER_DIRECTION[STANDARD_LABELS[name][edge]] > 0.9 * np.linalg.norm(towards), edge
    # rendered grey at voxel centres of the shown slice == the stored voxel through the window
    rgb = view.capture()
    grid = view.grid
    n = rng.integers(0, grid.size, size=(400, 2))
    u = grid.origin[0] + n[:, 0] * grid.spacing[0]
    v = grid.origin[1] + n[:, 1] * grid.spacing[1]
    lps = np.array([view.shown.to_world(a, b) for a, b in zip(u, v, strict=True)])
    ijk = volume.world_to_index(lps)
    assert np.allclose(ijk, np.rint(ijk), atol=1e-6), "an unrotated view samples voxel centres"
    i, j, k = np.rint(ijk).astype(int).T
    values = volume.array[k, j, i].astype(np.float64)
    window = viewer.model.window()
    expected = np.clip((values - window.lower) / window.width, 0, 1) * 255
    xy = np.array([view.world_to_display(p) for p in lps])
    inside = (xy[:, 0] > 2) & (xy[:, 0] < w - 3) & (xy[:, 1] > 2) & (xy[:, 1] < h - 3)
    xs, ys = np.rint(xy[inside]).astype(int).T
    shown = rgb[ys, xs].astype(np.float64)
    assert inside.sum() > 100
    assert np.all(np.ptp(shown, axis=1) <= 1), "grey colour map draws grey"
    close = np.abs(shown[:, 0] - expected[inside]) <= 3
    assert close.mean() > 0.97, f"{name}: {close.mean():.0%} of sampled pixels show their voxel"


def plain_views(viewer, volume) -> None:
    viewer.model.set_image(volume)
    viewer.model.set_interpolation(False)
    viewer.model.set_crosshair_visible(False)
    viewer.model.set_annotations_visible(False)


@pytest.mark.parametrize("name", ["ct", "mr"])
def test_cirs_series_show_patient_planes_with_the_right_labels(viewer, cirs_ct, cirs_mr, name):
    volume = series(cirs_ct if name == "ct" else cirs_mr)
    plain_views(viewer, volume)
    rng = np.random.default_rng(7)
    for view_name in VIEW_NAMES:
        check_view_orientation(viewer, view_name, rng)


def head_centroid(volume) -> np.ndarray:
    k, j, i = np.nonzero(volume.array > volume.array.mean())
    return volume.index_to_world(np.array([i.mean(), j.mean(), k.mean()]))


def peak_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Best normalised cross-correlation of two images over all shifts (FFT)."""
    a = (a - a.mean()) / a.std()
    b = (b - b.mean()) / b.std()
    size = (a.shape[0] + b.shape[0], a.shape[1] + b.shape[1])
    product = np.fft.rfft2(a, size) * np.fft.rfft2(b[::-1, ::-1], size)
    return float(np.fft.irfft2(product, size).max() / np.sqrt(a.size * b.size))


FLIPS = {"as shown": lambda x: x, "left-right": lambda x: x[:, ::-1], "up-down": lambda x: x[::-1],
         "turned": lambda x: x[::-1, ::-1]}


def test_four_patient_positions_show_the_same_head_the_same_way_round(viewer, decubitus):
    rng = np.random.default_rng(11)
    images = {}
    for position in POSITIONS:
        volume = series(decubitus / position)
        assert volume.meta.patient_position == position
        plain_views(viewer, volume)
        for view_name in VIEW_NAMES:
            check_view_orientation(viewer, view_name, rng)
        viewer.model.set_position(head_centroid(volume))  # the same anatomy: each head's own centre
        images[position] = {n: shown_slice(viewer.slice_view(n)) for n in ("coronal", "sagittal")}
        threshold = volume.array.mean()
        for view_name, image in images[position].items():
            head = image > threshold
            # superior edge: air above the vertex; inferior edge: the neck leaves the field of view
            assert not head[:3].any() and head[-3:].any(), f"{position} {view_name}: vertex up, neck down"
    for position in POSITIONS[1:]:
        sagittal = {flip: peak_correlation(images["HFS"]["sagittal"], f(images[position]["sagittal"]))
                    for flip, f in FLIPS.items()}
        # face to the screen left (A), vertex up (S): the unflipped image matches HFS best
        assert max(sagittal, key=sagittal.get) == "as shown", f"{position}: {sagittal}"
        coronal = {flip: peak_correlation(images["HFS"]["coronal"], f(images[position]["coronal"]))
                   for flip, f in FLIPS.items()}
        assert coronal["as shown"] > max(coronal["up-down"], coronal["turned"]) + 0.1, f"{position}: {coronal}"


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_a_marker_on_the_patient_left_front_shows_at_screen_right_and_top_whatever_the_grid(viewer, turn):
    """A left-right symmetric head cannot prove left from right; a synthetic one with a marker can.

    Axial grids turned about z as by supine, decubitus and prone positions.
    """
    from tests.widgets.test_viewer import marker_only, white_pixels
    from tests.widgets.volumes import box_phantom
    from workstation import geometry

    volume = box_phantom(direction=geometry.rotation_matrix([0, 0, 1], turn), origin=(0.0, 0.0, 0.0))
    volume.affine[:3, 3] -= volume.center()  # centre the grid on the LPS origin
    volume.itk_parts = None
    volume.array[volume.array == 1000] = 200
    target = np.array([15.0, -12.0, 4.0])  # left, anterior, superior of the centre
    i, j, k = np.rint(volume.world_to_index(target)).astype(int)
    volume.array[k, j, i] = 1000
    viewer.model.set_image(volume)
    viewer.model.set_position(volume.index_to_world([i, j, k]))
    marker_only(viewer)
    # axial: left (L) at screen right, anterior at the top; coronal: L right, superior top;
    # sagittal: anterior at screen left, superior top. Every marker lies above the centre.
    for name, horizontal in {"axial": "right", "coronal": "right", "sagittal": "left"}.items():
        view = viewer.slice_view(name)
        spots = white_pixels(view.capture())
        assert len(spots) > 0, name
        x, y = spots.mean(axis=0) - np.array([view.canvas.width(), view.canvas.height()]) / 2
        assert (x > 0) == (horizontal == "right") and y < 0, f"{name}: marker at {x:+.0f}, {y:+.0f} from centre"
