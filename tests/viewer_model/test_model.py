"""The viewer model without Qt: links, the identity switch, presets, slab, time points, layers and their events."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from workstation import measurements as mm
from workstation.labels import LabelMap
from workstation.viewer_model import FusedLayer, FusionSettings, LabelsLayer, LandmarksLayer, ViewerModel
from workstation.viewer_model.display import Camera2D, Window
from workstation.volume import Volume, VolumeMeta, WindowPreset

CORONAL_DIRECTION = np.array([[-1.0, 0, 0], [0, 0, -1], [0, 1, 0]])


def volume(modality: str = "CT", series: str = "1.2.3", presets: list[WindowPreset] | None = None,
           timepoints: int = 0, origin=(10.0, -20.0, 30.0)) -> Volume:
    """A coronal, anisotropic grid (i to patient right, j superior... as stored 'backwards')."""
    shape = (7, 6, 5) if not timepoints else (timepoints, 7, 6, 5)
    array = np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape)
    meta = VolumeMeta(modality=modality, series_uid=series, window_presets=presets or [])
    return Volume.from_parts(array, [0.8, 1.5, 2.5], list(origin), CORONAL_DIRECTION, meta)


class Recorder:
    """Counts emissions of signals by name."""

    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def on(self, signal, name: str) -> None:
        signal.connect(lambda *args: self.seen.append((name, *args)))

    def names(self) -> list[str]:
        return [s[0] for s in self.seen]


def test_the_model_imports_neither_qt_nor_vtk():
    code = ("import sys, workstation.viewer_model; "
            "print([m for m in sys.modules if m.startswith(('PySide6', 'vtkmodules', 'pydicom'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_position_links_the_two_slots_in_lps_and_can_be_unlinked():
    model = ViewerModel()
    model.set_image(volume(), 0)
    model.set_image(volume(series="9.9", origin=(0.0, 0.0, 0.0)), 1)
    assert np.allclose(model.position(1), model.position(0))  # a second series opens on the linked crosshair
    events = Recorder()
    events.on(model.slot(1).planes, "planes1")
    target = np.array([12.0, -17.5, 31.0])
    model.set_position(target, 0)
    assert np.allclose(model.position(1), target) and events.names() == ["planes1"]
    model.set_links(position=False)
    model.set_position(target + 5, 0)
    assert np.allclose(model.position(1), target) and np.allclose(model.position(0), target + 5)


def test_step_slice_moves_onto_slice_centres_along_the_view_normal():
    model = ViewerModel()
    v = volume()
    model.set_image(v)
    n0, count = model.slot().slice_number("coronal")
    assert count == 7  # k runs anterior-posterior, 7 slices of 2.5 mm
    model.step_slice("coronal", 2)
    assert model.slot().slice_number("coronal")[0] == n0 + 2
    k = v.world_to_index(model.position())[2]
    assert k == pytest.approx(round(k))  # on a voxel centre
    model.step_slice("coronal", 100)
    assert model.slot().slice_number("coronal") == (count, count)  # clamped


def test_window_presets_and_the_window_link():
    model = ViewerModel()
    header = [WindowPreset("Scanner", 100, 300)]
    model.set_image(volume(presets=header), 0)
    model.set_image(volume(series="9.9"), 1)
    assert model.window(0) == Window(100, 300)  # the header's first preset
    assert model.preset_names(0)[0] == "Scanner" and model.preset_names(0)[-1] == "Auto"
    model.apply_preset("Lung", 0)
    assert model.window(0) == Window(-600, 1500) and model.window(1) != Window(-600, 1500)  # window not linked
    model.set_links(window=True)
    model.set_window(100, 50, 1)
    assert model.window(0) == model.window(1) == Window(100, 50)


def test_a_finished_load_makes_the_default_window_again_unless_the_user_changed_it():
    model = ViewerModel()
    preview = volume("MR")
    preview.array[...] = 0  # nothing decoded yet
    model.set_image(preview, source="key", complete=False)
    assert model.showing("key", loading=True)
    preview.array[...] = np.arange(preview.array.size).reshape(preview.array.shape)  # the loader fills it
    model.complete_image(preview)
    assert model.showing("key", loading=False)
    assert model.window().upper > 100  # made from the now decoded values
    model.set_image(preview, source="other", complete=False)
    model.set_window(5, 10)
    model.complete_image(preview)
    assert model.window() == Window(5, 10)


def test_zoom_link_and_crosshair_rotation_reset_pans():
    model = ViewerModel()
    model.set_image(volume(), 0)
    model.set_image(volume(series="9.9"), 1)
    model.set_camera("axial", Camera2D(2.0, (3.0, 4.0)), 0)
    assert model.slot(1).cameras["axial"] == Camera2D(2.0, (3.0, 4.0))
    model.set_camera("coronal", Camera2D(1.5, (1.0, 1.0)), 0)
    model.rotate_crosshair("axial", 30, 0)
    assert model.slot(0).cameras["coronal"] == Camera2D(1.5, None)  # turned plane: pan means something else
    assert model.slot(0).cameras["axial"].pan == (3.0, 4.0)
    model.reset(0)
    assert model.slot(0).cameras["axial"] == Camera2D() and not model.slot(0).state.oblique


def test_the_identity_switch_is_held_once_and_announced():
    model = ViewerModel()
    seen = []
    model.hide_identity_changed.connect(seen.append)
    model.set_hide_identity(True)
    assert model.hide_identity is True and seen == [True]


def test_slab_colour_interpolation_and_tool():
    model = ViewerModel()
    model.set_image(volume())
    events = Recorder()
    events.on(model.slot().display, "display")
    model.set_slab("mip", 10.0)
    model.set_colormap("Hot iron")
    model.set_interpolation(False)
    assert model.display_settings() == {"colormap": "Hot iron", "invert": False, "interpolation": False,
                                        "slab": ("mip", 10.0)}
    assert events.names() == ["display"] * 3
    with pytest.raises(ValueError):
        model.set_slab("max", 3)
    model.set_tool("ruler")
    with pytest.raises(ValueError):
        model.set_tool("lasso")


def test_time_points_clamp_and_the_probe_reads_the_shown_one():
    model = ViewerModel()
    v = volume(timepoints=4)
    model.set_image(v)
    lps = v.index_to_world([2, 3, 4])
    model.set_time_point(2)
    probe = model.slot().probe(lps)
    assert probe["ijk"] == (2, 3, 4) and probe["value"] == v.array[2, 4, 3, 2]
    assert model.slot().values_over_time(lps).tolist() == v.array[:, 4, 3, 2].tolist()
    model.set_time_point(99)
    assert model.slot().time_point == 3
    model.set_image(volume())
    assert model.slot().time_point == 0  # a 3D image has one


def test_measurements_follow_their_series_and_selection():
    model = ViewerModel()
    v = volume()
    model.set_image(v)
    plane = model.slot().state.plane("axial")
    ruler = mm.Measurement("ruler", np.array([v.center(), v.center() + [10.0, 0, 0]]), plane, "1.2.3")
    model.add_measurement(ruler)
    assert model.slot().measurements.selected == ruler.uid
    assert model.measurement_values(ruler)["length"][0] == pytest.approx(10.0)
    model.set_image(volume(series="1.2.3"))
    assert model.measurements() == [ruler]  # same series: kept
    model.set_image(volume(series="other"))
    assert model.measurements() == [] and model.slot().measurements.selected is None


def test_layers_fused_labels_and_landmarks_belong_to_their_image():
    model = ViewerModel()
    fixed, moving = volume(), volume(series="9.9")
    model.set_image(fixed)
    events = Recorder()
    events.on(model.slot().layers, "layers")
    shift = np.eye(4)
    shift[:3, 3] = [5.0, 0.0, 0.0]
    fused = FusedLayer(moving, shift)
    fused.changed.connect(lambda live: events.seen.append(("fused", live)))
    model.set_fused(fused)
    fused.set_matrix(np.eye(4), live=True)
    fused.set_settings(FusionSettings(mode="checkerboard"))
    model.set_labels(LabelsLayer(LabelMap.empty_like(fixed)))
    assert events.seen == [("layers",), ("fused", True), ("fused", False), ("layers",)]
    assert model.slot().labels.labels.array.shape == fixed.array.shape
    landmarks = LandmarksLayer()
    model.set_landmarks(landmarks)
    assert landmarks.place(fixed.center(), shift) == "fixed"
    assert landmarks.place(fixed.center(), shift) == "moving"
    assert np.allclose(landmarks.moving[0], fixed.center() + [5.0, 0, 0])  # stored in the moving frame
    assert np.allclose(landmarks.moving_in_fixed(shift)[0], fixed.center())
    assert landmarks.errors(shift) == pytest.approx([0.0]) and landmarks.errors(np.eye(4)) == pytest.approx([5.0])
    model.set_image(volume(series="new"))
    assert model.slot().fused is None and model.slot().labels is None and model.slot().landmarks is None
    with pytest.raises(ValueError):
        FusionSettings(mode="wipe")
