"""Components found a slab at a time against SimpleITK's ConnectedComponent and RelabelComponent on the whole mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from segmentation.components import SLAB, face_components
from tests.segmentation.grids import CancelAt
from workstation.errors import Cancelled


def _simpleitk(mask: np.ndarray, by_size: bool = False) -> np.ndarray:
    labelled = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), False)  # faces only
    return sitk.GetArrayFromImage(sitk.RelabelComponent(labelled, sortByObjectSize=True) if by_size else labelled)


@pytest.mark.parametrize(("shape", "filled"), [
    ((5, 8, 8), 0.4),  # thinner than a slab
    ((SLAB, 10, 10), 0.6),  # exactly one
    ((40, 30, 20), 0.3),  # many small islands, a part slab at the end
    ((3 * SLAB + 1, 17, 19), 0.5),  # one slice in the last slab
    ((70, 40, 40), 0.65),  # past the percolation threshold: one piece crossing every boundary
])
def test_random_masks_are_labelled_and_ranked_as_simpleitk_does(shape, filled):
    mask = np.random.default_rng(len(shape) * shape[0]).random(shape) < filled
    assert np.array_equal(face_components(mask), _simpleitk(mask))
    assert np.array_equal(face_components(mask, by_size=True), _simpleitk(mask, by_size=True))  # ties included


def test_pieces_joined_only_through_a_later_slab_are_one_component():
    """A U whose arms meet only in the last slab: the arms, apart in every slab but one, are one component."""
    mask = np.zeros((3 * SLAB, 6, 9), bool)
    mask[:, 2, 1] = mask[:, 2, 7] = True  # two arms along z
    mask[-1, 2, 1:8] = True  # the bottom of the U
    mask[0, 4, 4] = True  # a lone voxel, numbered between the arms' first voxels
    labelled = face_components(mask)
    assert np.array_equal(labelled, _simpleitk(mask))
    assert labelled[0, 2, 1] == labelled[0, 2, 7] == 1 and labelled[0, 4, 4] == 2


def test_the_cirs_ct_is_labelled_as_simpleitk_does(cirs_ct: Path):
    """The real CT: its soft-tissue band (thousands of islands) and its body, whole, 283 x 512 x 512."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(cirs_ct)))
    ct = sitk.GetArrayFromImage(reader.Execute())
    band = (ct > -50) & (ct < 50)
    assert np.array_equal(face_components(band, by_size=True), _simpleitk(band, by_size=True))
    body = ct > -500
    assert np.array_equal(face_components(body), _simpleitk(body))


def test_a_cancel_is_seen_at_the_next_slab():
    mask = np.ones((4 * SLAB, 8, 8), bool)
    whole = CancelAt(2.0)  # never turns on
    face_components(mask, whole.progress, whole)
    cancel = CancelAt(0.3)  # turned on from the job's own progress: no timing involved
    with pytest.raises(Cancelled):
        face_components(mask, cancel.progress, cancel)
    assert cancel.seen == [f for f in whole.seen if f <= cancel.seen[-1]] and cancel.seen[-1] < 0.9
    assert cancel.asked_while_set == 1  # the next slab's check, not one at each slab left
