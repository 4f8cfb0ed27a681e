"""Image files, experiment runs and 4D series in the real window, checked against their DICOM, dcm2niix and the
run's own records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from PySide6.QtGui import QImage

from tests.app.conftest import open_and_load
from workstation.app.main_window import MainWindow
from workstation.experiments import example
from workstation.jobs import no_progress
from workstation.main import wants_gui

DCM2NIIX = Path(sys.executable).with_name("dcm2niix")
pytestmark = pytest.mark.gui


def workstation(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workstation", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env)


def show_plainly(win: MainWindow, position: np.ndarray, window: tuple[float, float]) -> None:
    """Stored pixels, no overlays, a fixed window and crosshair: what two images of one place must show alike."""
    model = win.model
    model.set_interpolation(False)
    model.set_crosshair_visible(False)
    model.set_annotations_visible(False)
    model.set_window(*window)
    model.set_position(position)


def open_file(qtbot, win: MainWindow, path: Path) -> None:
    with qtbot.waitSignal(win.volumeLoaded, timeout=120_000):
        win.open_path(path)


def frames(win: MainWindow) -> dict[str, np.ndarray]:
    return {name: win.viewer.slice_view(name).capture().astype(np.int16) for name in ("axial", "coronal", "sagittal")}


def test_the_cirs_ct_converted_to_nifti_shows_the_same_axial_frame_as_its_dicom(qtbot, window: MainWindow,
                                                                                 cirs_ct: Path, tmp_path: Path):
    nifti = tmp_path / "ct.nii.gz"
    done = workstation("convert", cirs_ct, "-o", nifti)
    assert done.returncode == 0, done.stderr
    open_and_load(qtbot, window, cirs_ct)
    dicom = window.volume
    where = dicom.index_to_world([250, 260, 140])
    show_plainly(window, where, (40, 400))
    expected = window.viewer.slice_view("axial").capture().astype(np.int16)
    open_file(qtbot, window, nifti)
    assert window.current_key == str(nifti) and window.volume.array.shape == dicom.array.shape
    assert np.allclose(window.volume.affine, dicom.affine, atol=1e-4)  # LPS again, from NIfTI's RAS sform
    show_plainly(window, where, (40, 400))
    shown = window.viewer.slice_view("axial").capture().astype(np.int16)
    assert expected.std() > 20  # the phantom is there
    assert np.array_equal(shown, expected)


def test_an_oblique_nifti_by_dcm2niix_shows_the_labels_and_anatomy_of_its_dicom(qtbot, window: MainWindow,
                                                                                decubitus: Path, tmp_path: Path):
    series = decubitus / "HFDL"
    done = subprocess.run([str(DCM2NIIX), "-z", "n", "-f", "hfdl", "-o", str(tmp_path), str(series)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    open_and_load(qtbot, window, series)
    where = window.volume.center()
    show_plainly(window, where, (300, 600))
    labels = {n: window.viewer.slice_view(n).edge_labels() for n in ("axial", "coronal", "sagittal")}
    expected = frames(window)
    open_file(qtbot, window, tmp_path / "hfdl.nii")
    show_plainly(window, where, (300, 600))
    assert {n: window.viewer.slice_view(n).edge_labels() for n in labels} == labels
    for name, pixels in frames(window).items():
        assert expected[name].std() > 10, f"no anatomy in the DICOM's {name} view"
        assert np.mean(pixels != expected[name]) < 0.002, name  # the same anatomy in the same place


def test_a_4d_series_steps_through_time_points_with_the_slider_and_plots_the_probe(qtbot, window: MainWindow,
                                                                                    unpacked_data: Path,
                                                                                    tmp_path: Path):
    series = unpacked_data / "dcm_qa_vendor" / "philips" / "In" / "Magdeburg_2014"
    done = subprocess.run([str(DCM2NIIX), "-p", "n", "-z", "n", "-f", "ref", "-o", str(tmp_path), str(series)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ref = sitk.ReadImage(str(tmp_path / "ref.nii"))
    open_and_load(qtbot, window, series)
    bar = window.view_controls.toolbar
    assert bar.time_action.isVisible() and bar.time.maximum() == 3
    volume = window.volume
    lps = volume.index_to_world([30, 34, 4])
    index = ref.TransformPhysicalPointToIndex((*map(float, lps), 0.0))
    expected = [ref[(*index[:3], t)] for t in range(3)]
    window.model.set_position(lps)
    axial = window.viewer.slice_view("axial")
    seen = []
    for t in range(3):
        bar.time.setValue(t + 1)  # as the user turns the spin box
        assert window.model.slot().time_point == t
        assert f"Time {t + 1}/3" in axial.annotation()["lower_left"]
        with qtbot.waitSignal(window.viewer.probe) as probe:
            axial.probed.emit(axial.probe_at(lps))
        assert probe.args[0]["value"] == expected[t]
        seen.append(axial.capture())
    assert not np.array_equal(seen[0], seen[1])  # another time point is drawn
    assert [v for _x, v in window.view_controls.time_plot.series["voxel"]] == expected


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the example cohort (the shifted pair, shortened preset), made by the command line."""
    folder = tmp_path_factory.mktemp("experiment")
    example.write_example(no_progress, None, folder)
    spec = {"name": "review", "pairs": [example.pair_entry("shifted", "mr_shifted")], "presets": ["ct-mr-rigid"],
            "overrides": {"short": example.SHORT}, "seeds": [0], "threads": 1}
    (folder / "review.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    done = workstation("experiment", "run", folder / "review.yaml", "-o", folder / "results", "--workers", "1")
    assert done.returncode == 0, done.stderr
    [run] = [p for p in (folder / "results" / "runs").iterdir() if (p / "COMPLETE").exists()]
    return run


def test_an_experiment_run_opens_fused_with_the_landmark_errors_of_its_results(qtbot, window: MainWindow,
                                                                              finished_run: Path):
    controller = window.registration
    with qtbot.waitSignal(controller.runReviewed, timeout=120_000):
        window.open_path(finished_run)
    result = json.loads((finished_run / "result.json").read_text())
    table = pd.read_csv(finished_run.parents[1] / "results.csv").set_index("run_id")
    slot = window.model.slot()
    assert slot.fused is not None and controller.fusion.active
    assert np.allclose(slot.fused.matrix, result["matrix_lps"])
    errors = slot.landmarks.errors(slot.fused.matrix)
    assert np.allclose(errors, result["evaluation"]["tre_mm"], rtol=1e-9)
    assert errors.mean() == pytest.approx(table.loc[finished_run.name, "tre_mean_mm"], rel=1e-9)
    assert f"{errors.mean():.2f} mm" in controller.panel.status.text()
    assert sum(len(v) for v in controller.panel.plot.series.values()) == len(
        pd.read_csv(finished_run / "metric_history.csv"))


def test_an_experiment_run_shows_its_moving_label_map_on_the_moving_grid(qtbot, window: MainWindow,
                                                                      finished_run: Path):
    with qtbot.waitSignal(window.registration.runReviewed, timeout=120_000):
        window.open_path(finished_run)
    fused = window.model.slot().fused
    written = sitk.ReadImage(str(finished_run.parents[2] / "mr_shifted_labels.nii.gz"))  # the pair's moving labels
    assert fused.labels is not None and fused.shown_labels is fused.labels
    labels = fused.labels.labels
    assert np.array_equal(labels.array, sitk.GetArrayFromImage(written))
    corner = np.array(written.TransformIndexToPhysicalPoint([3, 5, 7]))
    assert np.allclose(labels.volume.index_to_world([3, 5, 7]), corner, atol=1e-6)  # LPS, as SimpleITK places it
    assert {s.number for s in labels.segments} == {int(v) for v in np.unique(labels.array) if v > 0}


def test_a_path_argument_opens_the_window_and_view_screenshots_write_one_view(cirs_ct: Path, tmp_path: Path):
    assert wants_gui([str(cirs_ct)]) and not wants_gui(["info", str(cirs_ct)]) and not wants_gui(["nowhere"])
    out = tmp_path / "axial.png"
    done = workstation(cirs_ct, "--view", "axial", "--screenshot", out)
    assert done.returncode == 0, done.stderr
    image = QImage(str(out))
    assert 100 < image.width() < 1800 and 100 < image.height() < 1100  # one view, not the window


def test_without_a_display_the_window_says_so_in_one_line(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = workstation("--demo", env=env)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "no display" in done.stderr
    help_text = workstation("--help").stdout
    assert "--open PATH" in help_text and "--screenshot" in help_text and "convert" in help_text


def test_the_demo_first_screen_shows_no_warning_and_a_readable_window(qtbot, window: MainWindow):
    with qtbot.waitSignal(window.volumeLoaded, timeout=300_000):
        window.open_demo()
    qtbot.waitUntil(lambda: not window.busy(), timeout=120_000)  # the MR folder's scan, thumbnails
    assert not [line for line in window.messages.lines() if "skipped" in line or "left out" in line], \
        window.messages.lines()
    assert len(window.catalog.entries) == 2  # both series of the demo study are listed


def test_file_open_labels_puts_the_label_map_on_the_shown_image(qtbot, window: MainWindow, shared_data: Path):
    case = shared_data / "seg_samples" / "dcmqi" / "23x38x3"
    open_and_load(qtbot, window, case / "image")
    window.open_labels(case / "nrrd" / "label.nrrd")
    qtbot.waitUntil(lambda: window.model.slot().labels is not None, timeout=60_000)
    labels = window.model.slot().labels.labels
    assert labels.array.shape == window.volume.array.shape and labels.array.max() == 1


def test_file_export_image_writes_the_shown_volume_as_simpleitk_reads_it(qtbot, window: MainWindow, decubitus: Path,
                                                                         tmp_path: Path):
    open_and_load(qtbot, window, decubitus / "HFP")
    shown = window.volume
    out = tmp_path / "hfp.nii.gz"
    with qtbot.waitSignal(window.messages.added, timeout=60_000):
        window.export_image(out)
    image = sitk.ReadImage(str(out))
    assert np.array_equal(sitk.GetArrayFromImage(image), shown.array)
    assert np.allclose(image.GetOrigin(), shown.origin, atol=1e-4)
    assert np.allclose(np.asarray(image.GetDirection()).reshape(3, 3), shown.direction, atol=1e-6)
