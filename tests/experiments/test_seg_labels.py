"""Experiments take DICOM SEG files as label maps (for Dice): dcmqi's SEG against the label map it came from."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.dicom.seg_files import highdicom_seg, overlapping_masks
from workstation.errors import WorkstationError
from workstation.experiments.inputs import load_labels
from workstation.labels import LabelMap, default_segment

pytestmark = pytest.mark.filterwarnings("ignore:.*intended person name")


def test_a_seg_file_is_a_label_map_in_lps(seg_samples: Path) -> None:
    case = seg_samples / "dcmqi" / "23x38x3"
    labels = load_labels(case / "seg" / "label.seg")  # no images beside it: the SEG's own geometry
    truth = sitk.ReadImage(str(case / "nrrd" / "label.nrrd"))
    assert np.array_equal(labels.array, sitk.GetArrayFromImage(truth))
    assert np.allclose(labels.origin, truth.GetOrigin(), atol=1e-3)
    assert np.allclose(labels.spacing, truth.GetSpacing(), atol=1e-4)


def test_a_seg_with_overlapping_segments_is_refused_in_one_line(seg_samples: Path, tmp_path: Path) -> None:
    images = seg_samples / "dcmqi" / "24x38x3" / "image"
    folder = tmp_path / "case"
    shutil.copytree(images, folder)  # the images beside the SEG are found and used
    highdicom_seg(images, overlapping_masks((3, 38, 24))).save_as(folder / "overlap.dcm")
    with pytest.raises(WorkstationError, match="segments overlap") as caught:
        load_labels(folder / "overlap.dcm")
    assert str(caught.value).startswith(str(folder / "overlap.dcm"))


def test_a_segment_is_a_registration_mask_on_the_map_grid(seg_samples: Path) -> None:
    labels = LabelMap(load_labels(seg_samples / "dcmqi" / "24x38x3" / "seg" / "label.seg"), [default_segment(1)])
    mask = labels.mask_volume(1)
    assert mask.array.dtype == np.uint8 and np.array_equal(mask.array, labels.array == 1)
    assert np.array_equal(mask.affine, labels.volume.affine) and mask.array is not labels.array
