"""``workstation library list --json``: SEG and RTSTRUCT listed under the series they were drawn on."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from workstation.cli.main import main


def test_library_list_shows_segmentations_under_their_images(seg_samples: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    images = seg_samples / "dcmqi" / "24x38x3" / "image"
    seg = seg_samples / "dcmqi" / "24x38x3" / "seg" / "label.seg"
    assert main(["scan", str(images.parent)]) == 0
    capsys.readouterr()
    assert main(["library", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    series = {s["series_uid"]: s for p in listing for st in p["studies"] for s in st["series"]}
    image_uid = str(pydicom.dcmread(next(images.iterdir()), stop_before_pixels=True).SeriesInstanceUID)
    seg_header = pydicom.dcmread(seg, stop_before_pixels=True)
    filed = series[image_uid]["segmentations"]
    assert [(s["series_uid"], s["modality"], s["instances"]) for s in filed] == [
        (str(seg_header.SeriesInstanceUID), "SEG", 1)]
    assert str(seg_header.SeriesInstanceUID) not in series
