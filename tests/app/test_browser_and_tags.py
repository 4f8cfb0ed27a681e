"""The library browser and the tag inspector widgets, fed from real DICOM folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from widgets.library_browser import LibraryBrowser
from widgets.tag_inspector import HIDDEN, TagInspector
from workstation.app.catalog import Catalog
from workstation.dicom.load import plan_volumes
from workstation.dicom.tags import file_tree
from workstation.dicom.thumbnails import series_thumbnail
from workstation.jobs import no_progress


def _catalog(*folders: Path) -> Catalog:
    catalog = Catalog()
    for folder in folders:
        catalog.add(plan_volumes(no_progress, None, folder), str(folder))
    return catalog


def test_tree_search_and_identity_with_the_cirs_ct_and_mr(qtbot, cirs_ct: Path, cirs_mr: Path) -> None:
    catalog = _catalog(cirs_ct, cirs_mr)
    browser = LibraryBrowser()
    qtbot.addWidget(browser)
    browser.set_patients(catalog.patients())
    keys = browser.series_uids()
    assert set(keys) == set(catalog.entries)
    ct_key = next(k for k in keys if catalog[k].plan.reference.modality == "CT")
    mr_key = next(k for k in keys if catalog[k].plan.reference.modality == "MR")
    ct_item = browser._series_items[ct_key]
    assert ct_item.text(2) == "CT" and ct_item.text(3).startswith("283")

    browser.search.setText("mr")
    assert browser.visible_series() == [mr_key]
    ct_date = catalog[ct_key].plan.reference.study_date
    browser.search.setText(f"{ct_date[:4]}-{ct_date[4:6]}-{ct_date[6:]} ct")
    assert browser.visible_series() == [ct_key]
    browser.search.setText(catalog[mr_key].plan.reference.patient_id)
    assert mr_key in browser.visible_series()
    browser.search.setText("no such thing")
    assert browser.visible_series() == []
    browser.search.clear()

    names = [p["name"] for p in catalog.patients()]
    assert browser.patient_labels()[0].startswith(names[0])
    browser.set_hide_identity(True)
    assert browser.patient_labels() == [f"Patient {n}" for n in range(1, len(names) + 1)]
    browser.search.setText(catalog[mr_key].plan.reference.patient_id)  # identity is not searchable when hidden
    assert browser.visible_series() == []
    browser.search.clear()

    with qtbot.waitSignal(browser.seriesActivated) as activated:
        browser.select_series(mr_key)
        browser.tree.itemActivated.emit(browser._series_items[mr_key], 0)
    assert activated.args == [mr_key]
    assert browser.current_series() == mr_key


def test_series_warnings_and_thumbnails_are_visible(qtbot, tmp_path: Path, cirs_ct: Path) -> None:
    # 30 adjacent slices, by position as pydicom reads it (the file names do not follow the slices)
    files = sorted(cirs_ct.iterdir(), key=lambda f: float(pydicom.dcmread(f, stop_before_pixels=True)
                                                          .ImagePositionPatient[2]))
    gapped = tmp_path / "gapped"
    gapped.mkdir()
    for n, f in enumerate(files[:30]):
        if n != 15:  # a missing slice
            (gapped / f.name).symlink_to(f)
    catalog = _catalog(gapped)
    (key,) = catalog.entries
    assert catalog[key].plan.warnings, "the loader should warn about the missing slice"
    browser = LibraryBrowser()
    qtbot.addWidget(browser)
    browser.set_patients(catalog.patients())
    assert catalog[key].plan.warnings[0] in browser.series_warnings(key)
    assert "warning" in browser._series_items[key].text(3)

    thumb = series_thumbnail(no_progress, None, catalog[key].files)
    assert thumb.dtype == np.uint8 and max(thumb.shape) <= 48 and thumb.std() > 10  # a picture, not a flat field
    browser.set_thumbnail(key, thumb)
    icon = browser._series_items[key].icon(0)
    assert not icon.isNull() and browser.has_thumbnail(key)


def test_tag_inspector_shows_filters_and_hides_identity(qtbot, cirs_ct: Path) -> None:
    path = sorted(cirs_ct.iterdir())[0]
    inspector = TagInspector()
    qtbot.addWidget(inspector)
    tree = file_tree(path)
    inspector.set_tree(tree, path.name)
    name = next(n["value"] for n in tree if n["tag"] == "(0010,0010)")
    assert inspector.value_of("(0010,0010)") == name
    assert inspector.value_of("(0028,0010)") == "512"
    inspector.set_hide_identity(True)
    assert inspector.value_of("(0010,0010)") == HIDDEN
    assert inspector.value_of("(0028,0010)") == "512"
    inspector.filter.setText("rows")
    shown = [inspector.tree.topLevelItem(n).text(1) for n in range(inspector.tree.topLevelItemCount())
             if not inspector.tree.topLevelItem(n).isHidden()]
    assert "Rows" in shown and all("rows" in s.lower() for s in shown) and len(shown) < 5
    inspector.filter.setText(name)  # a hidden value cannot be found by typing it
    assert all(inspector.tree.topLevelItem(n).isHidden() for n in range(inspector.tree.topLevelItemCount()))
    inspector.set_hide_identity(False)
    assert not all(inspector.tree.topLevelItem(n).isHidden() for n in range(inspector.tree.topLevelItemCount()))
    assert inspector.tree.headerItem().text(3) == "Value"
