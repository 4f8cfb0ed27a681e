"""The 3D view renders something, in every mode, downsamples with a notice, crops, and faces the patient."""

from __future__ import annotations

import numpy as np
import pytest

from tests.widgets.conftest import series
from tests.widgets.volumes import box_phantom
from widgets.gl_info import max_3d_texture_size, renderer_string
from widgets.volume_view import VolumeView, downsample_factor


def lit_fraction(rgb: np.ndarray) -> float:
    """Share of pixels brighter than the dark blue background."""
    return float((rgb.max(axis=2) > 60).mean())


@pytest.fixture
def view(qtbot):
    v = VolumeView()
    qtbot.addWidget(v)
    v.resize(320, 320)
    with qtbot.waitExposed(v):  # a context manager: called bare it does not wait
        v.show()
    yield v
    v.close_view()


def test_downsample_factor_respects_texture_limit_and_budget():
    assert downsample_factor((512, 512, 283), 2048, 100_000_000) == 1
    assert downsample_factor((512, 512, 283), 256, 100_000_000) == 2
    assert downsample_factor((512, 512, 283), 2048, 8_000_000) == 3


def test_the_context_reports_its_limits(view):
    assert max_3d_texture_size() >= 256
    assert renderer_string(view.render_window) != "unknown"


def test_ct_volume_rendering_mip_and_isosurface_are_not_empty(view, cirs_ct):
    ct = series(cirs_ct)
    view.set_volume(ct)
    assert view.factor >= 2 and "1/" in view.notice  # 74 M voxels: over the software-rendering budget
    assert view.notice_actor.GetVisibility()
    composite = view.capture()
    assert lit_fraction(composite) > 0.1
    view.set_preset("CT bone", shift=100, opacity=0.8)
    assert lit_fraction(view.capture()) > 0.03
    view.set_mode("mip")
    assert lit_fraction(view.capture()) > 0.1
    view.set_mode("isosurface")
    view.set_iso_threshold(-300)
    assert view.surface.GetMapper().GetInput().GetNumberOfPoints() > 1000
    assert lit_fraction(view.capture()) > 0.1


def test_a_small_texture_limit_downsamples_with_a_visible_notice(qtbot):
    v = VolumeView(max_texture=32)
    qtbot.addWidget(v)
    v.resize(320, 320)
    v.show()
    try:
        v.set_volume(box_phantom())
        assert v.factor == 3 and v.image.GetDimensions() == (27, 22, 14)
        rgb = v.capture()
        orange = (rgb[..., 0] > 180) & (rgb[..., 1] > 110) & (rgb[..., 2] < 120)
        assert orange[-40:].sum() > 20, "the notice is drawn at the bottom"
    finally:
        v.close_view()


def test_crop_box_removes_part_of_the_volume(view):
    view.set_volume(box_phantom())
    view.set_mode("isosurface")
    view.set_iso_threshold(0)
    full = view.surface.GetMapper().GetInput().GetBounds()
    view.set_crop((0.0, 0.0, 0.0), (0.5, 1.0, 1.0))
    cropped = view.surface.GetMapper().GetInput().GetBounds()
    assert cropped[1] < full[1] - 5 and cropped[0] == pytest.approx(full[0])
    view.set_mode("composite")
    before = lit_fraction(view.capture())
    view.set_crop(None)
    assert lit_fraction(view.capture()) > before


def test_the_default_view_faces_the_patient(view):
    """Anterior view: a lump on the patient's left appears at the screen right."""
    volume = box_phantom()
    centre = volume.center()
    lump = np.rint(volume.world_to_index(centre + [30, 0, 0])).astype(int)  # 30 mm to the left
    volume.array[lump[2] - 3:lump[2] + 3, lump[1] - 3:lump[1] + 3, lump[0] - 3:lump[0] + 3] = 200
    view.set_volume(volume)
    view.set_mode("isosurface")
    view.set_iso_threshold(0)
    rgb = view.capture()
    lit = rgb.max(axis=2) > 60
    lit[-60:] = False  # the orientation marker sits bottom right
    height = lit.sum(axis=0)
    box_columns = np.nonzero(height > 100)[0]
    lump_columns = np.nonzero((height > 0) & (height < 60))[0]
    assert len(box_columns) and len(lump_columns)
    assert lump_columns.min() > box_columns.max(), "the lump on the patient's left must be right of the box"
