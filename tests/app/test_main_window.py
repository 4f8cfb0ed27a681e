"""The real main window under Xvfb: demo and CIRS series, progress, cancel, measurements, exports, settings."""

from __future__ import annotations

import csv
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.app.conftest import load_held_until_cancelled, open_and_load, worker_threads
from workstation import __version__
from workstation.app.about import about_html
from workstation.app.main_window import MainWindow
from workstation.app.settings import app_settings
from workstation.dicom.measurement_store import MeasurementStore
from workstation.geometry import standard_plane
from workstation.measurements import Measurement, values


def _ruler(win: MainWindow, length: float) -> Measurement:
    volume = win.viewer.model.volume()
    c = np.asarray(volume.center())
    return Measurement("ruler", [c, c + [length, 0.0, 0.0]], standard_plane("axial", c), volume.meta.series_uid,
                       label=f"{length} mm")


def test_demo_study_first_slice_before_the_volume_then_everything(qtbot, window: MainWindow,
                                                                  demo_study: Path) -> None:
    order: list[str] = []
    window.firstSliceShown.connect(lambda key: order.append(f"first {key}"))
    window.volumeLoaded.connect(lambda key: order.append(f"loaded {key}"))
    key = open_and_load(qtbot, window, demo_study)
    assert order == [f"first {key}", f"loaded {key}"]
    volume = window.viewer.model.volume()
    assert volume.meta.modality == "CT" and volume.array.shape == (144, 256, 256)
    assert volume.meta.units == "HU"
    assert not np.all(volume.array[0] == volume.array[0, 0, 0])  # the edge slices arrived too
    assert sorted(len(p["studies"][0]["series"]) for p in window.catalog.patients()) == [2]
    assert window.tags.value_of("(0008,0060)") == "CT"
    assert "DEMO^PHANTOM" in window.windowTitle()
    assert not window.busy() or window._thumbnail_job is not None
    qtbot.waitUntil(lambda: all(window.browser.has_thumbnail(k) for k in window.browser.series_uids()),
                    timeout=30_000)

    plan = window.catalog[key].plan  # the inspector follows the crosshair to the acquired image there
    frame = plan.frame_at(0, 20)
    window.viewer.model.set_position(volume.index_to_world([128.0, 128.0, 20.0]))
    qtbot.waitUntil(lambda: window.tags.title.text() == Path(frame.path).name, timeout=60_000)
    assert window.tags.value_of("(0020,0013)") == str(frame.header.instance_number)

    window.set_hide_identity(True)
    assert "DEMO^PHANTOM" not in window.windowTitle()
    assert window.browser.patient_labels() == ["Patient 1"]
    assert window.tags.value_of("(0010,0010)") == "(hidden)"
    assert window.viewer.model.hide_identity


@pytest.mark.parametrize("which", ["ct", "mr"])
def test_cirs_series_open_through_the_window(qtbot, window: MainWindow, cirs_ct: Path, cirs_mr: Path,
                                             which: str) -> None:
    folder = cirs_ct if which == "ct" else cirs_mr
    open_and_load(qtbot, window, folder)
    volume = window.viewer.model.volume()
    if which == "ct":
        assert volume.array.shape == (283, 512, 512) and volume.meta.units == "HU"
        np.testing.assert_allclose(np.diag(volume.affine)[:3], [0.65625, 0.65625, 0.625], atol=1e-6)
    else:
        assert volume.meta.modality == "MR" and volume.array.shape[0] == 352
    image = window.viewer.grab_image()
    pixels = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    assert pixels.std() > 10  # the views show an image, not a black field


def test_cancel_during_load_and_close_leave_no_threads(qtbot, window: MainWindow, cirs_ct: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    key = open_and_load(qtbot, window, cirs_ct)
    # From here on a load's decoder threads wait after their first slice until it is cancelled: no load can
    # finish before the click or the close that cancels it, however loaded the machine is.
    monkeypatch.setattr("workstation.app.main_window.load_progressively", load_held_until_cancelled)
    with qtbot.waitSignal(window.firstSliceShown, timeout=60_000):
        window.load_series(key)
    assert window.busy() and window.progress.isVisible() and window.cancel_button.isVisible()
    with qtbot.waitSignal(window.jobFailed, timeout=60_000) as failed:
        window.cancel_button.click()
    assert "cancelled" in failed.args[0]
    assert not window.progress.isVisible()
    qtbot.waitUntil(lambda: not worker_threads(), timeout=30_000)

    with qtbot.waitSignal(window.firstSliceShown, timeout=60_000):
        window.load_series(key)
    assert window.runner.running()
    window.close()  # during the load
    assert not window.runner.running()
    assert not worker_threads()


def test_measurements_are_saved_with_the_series_and_restored(qtbot, window: MainWindow, demo_study: Path) -> None:
    ct_key = open_and_load(qtbot, window, demo_study)
    rulers = [_ruler(window, 20.0), _ruler(window, 35.5)]
    for m in rulers:
        window.viewer.model.add_measurement(m)
    assert [d["uid"] for d in MeasurementStore().load(ct_key)] == [m.uid for m in rulers]

    mr_key = next(k for k in window.catalog.entries if k != ct_key)
    with qtbot.waitSignal(window.volumeLoaded, timeout=60_000):
        window.load_series(mr_key)
    assert window.viewer.model.measurements() == []
    with qtbot.waitSignal(window.volumeLoaded, timeout=60_000):
        window.load_series(ct_key)
    assert [m.uid for m in window.viewer.model.measurements()] == [m.uid for m in rulers]
    window.close()

    again = MainWindow()  # the next run of the program
    qtbot.addWidget(again)
    open_and_load(qtbot, again, demo_study)
    restored = again.viewer.model.measurements()
    assert [values(m)["length"][0] for m in restored] == pytest.approx([20.0, 35.5])
    assert again.browser._series_items[ct_key].text(0).endswith("[measured]")
    again.close()


def test_csv_and_sr_exports_from_the_window(qtbot, window: MainWindow, demo_study: Path, tmp_path: Path) -> None:
    open_and_load(qtbot, window, demo_study)
    volume = window.viewer.model.volume()
    c = np.asarray(volume.center())
    plane = standard_plane("axial", c)
    roi = Measurement("ellipse", [c - [10.0, 8.0, 0.0], c + [10.0, 8.0, 0.0]], plane, volume.meta.series_uid)
    window.viewer.model.add_measurement(_ruler(window, 42.0))
    window.viewer.model.add_measurement(roi)
    expected = values(roi, volume)

    out = window.export_csv(tmp_path / "m.csv")
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["kind"] for r in rows] == ["ruler", "ellipse"]
    assert float(rows[0]["length_mm"]) == pytest.approx(42.0)
    assert float(rows[1]["mean"]) == pytest.approx(expected["mean"][0]) and rows[1]["intensity_unit"] == "HU"

    with qtbot.waitSignal(window.runner.jobsChanged, check_params_cb=lambda n: n == 0, timeout=60_000):
        window.export_sr(tmp_path / "m.dcm")
    sr = hd.sr.srread(tmp_path / "m.dcm")
    groups = sr.content.get_planar_roi_measurement_groups()
    got = [{m.name.meaning: (m.value, m.unit.value) for m in g.get_measurements()} for g in groups]
    assert got[0] == {"Length": (pytest.approx(42.0), "mm")}
    assert got[1]["Mean"] == (pytest.approx(expected["mean"][0]), "[hnsf'U]")
    assert got[1]["Area"] == (pytest.approx(expected["area"][0]), "mm2")


def test_settings_recent_items_and_drop_persist(qtbot, window: MainWindow, demo_study: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(demo_study))])
    drop = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.volumeLoaded, timeout=60_000):
        window.dropEvent(drop)
    assert len(window.browser.series_uids()) == 2
    window.set_layout("1x3")
    window.identity_action.trigger()
    window.close()
    settings = app_settings()
    assert settings.value("view/layout") == "1x3"
    assert str(demo_study.resolve()) in window.recent.items()

    again = MainWindow()
    qtbot.addWidget(again)
    assert again.layout_name == "1x3" and again.viewer.layout_name == "1x3"
    assert again.hide_identity and again.identity_action.isChecked()
    assert [a.text() for a in again.recent_menu.actions()][0] == str(demo_study.resolve())
    again.close()


def test_import_into_the_library_lists_and_loads_in_the_next_run(qtbot, window: MainWindow, cirs_mr: Path) -> None:
    with qtbot.waitSignal(window.libraryListed, timeout=120_000):
        window.import_folder(cirs_mr)
    (key,) = window.browser.series_uids()
    assert window.catalog[key].source == "library"
    window.close()

    again = MainWindow()
    qtbot.addWidget(again)
    again.set_layout("1x3")
    with qtbot.waitSignal(again.libraryListed, timeout=60_000):
        again.list_library()
    assert again.browser.series_uids() == [key]
    with qtbot.waitSignal(again.volumeLoaded, timeout=60_000):
        again.browser.seriesActivated.emit(key)
    assert again.viewer.model.volume().array.shape[0] == 352
    again.close()


def test_about_names_version_licences_and_data_credits() -> None:
    html = about_html()
    assert __version__ in html
    for needle in ("LGPL", "SimpleITK-Notebooks", "Apache-2.0", "Chris Rorden", "BSD 2-Clause"):
        assert needle in html


def test_an_unreadable_file_is_one_line_in_the_log(qtbot, window: MainWindow, tmp_path: Path) -> None:
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"not dicom at all")
    with qtbot.waitSignal(window.jobFailed, timeout=60_000) as failed:
        window.open_folder(bad)
    assert str(bad) in failed.args[0] and "\n" not in failed.args[0]
    assert any(str(bad) in line for line in window.messages.lines())
