"""TRE, Dice, MI and NCC on cases whose answers are known by construction; resampling onto the fixed grid."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from registration.evaluation import before_after, dice, disagreement, mutual_information, ncc, tre
from registration.resample import resample_to
from workstation.volume import Volume


def blob_volume(shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0), spacing: float = 2.0) -> Volume:
    """A smooth blob with a bright off-centre core, 2 mm voxels; moved by ``shift_mm`` in LPS."""
    k, j, i = np.meshgrid(*(np.arange(40) * spacing,) * 3, indexing="ij")
    x, y, z = i - 40 - shift_mm[0], j - 40 - shift_mm[1], k - 40 - shift_mm[2]
    array = 100 * np.exp(-(x**2 + y**2 + z**2) / 400) + 80 * np.exp(-((x - 10) ** 2 + y**2 + (z + 6) ** 2) / 50)
    return Volume.from_parts(array.astype(np.float32), [spacing] * 3, [0.0, 0.0, 0.0], np.eye(3))


def test_tre_of_a_pure_shift_is_its_length() -> None:
    fixed = np.array([[0.0, 0, 0], [10, 20, 30], [-5, 7, 1]])
    shift = np.eye(4)
    shift[:3, 3] = [3.0, 4.0, 0.0]
    result = tre(shift, fixed, fixed + [3.0, 4.0, 12.0])
    assert result.mean == pytest.approx(12.0) and result.max == pytest.approx(12.0)
    assert tre(shift, fixed, fixed + [3.0, 4.0, 0.0]).max == pytest.approx(0.0, abs=1e-12)


def test_disagreement_of_a_rotation_grows_with_distance_from_its_axis() -> None:
    turn = sitk.Euler3DTransform((0.0, 0.0, 0.0), 0.0, 0.0, np.deg2rad(1.0))
    points = np.array([[100.0, 0.0, 0.0], [0.0, 0.0, 50.0]])
    d = disagreement(turn, np.eye(4), points)
    assert d.max == pytest.approx(2 * 100 * np.sin(np.deg2rad(0.5)), rel=1e-9)
    assert d.mean == pytest.approx(d.max / 2, rel=1e-9)


def test_dice_of_overlapping_boxes() -> None:
    a = np.zeros((10, 10, 10), np.uint8)
    b = np.zeros_like(a)
    a[2:6, 2:6, 2:6] = 1  # 64 voxels
    b[4:8, 2:6, 2:6] = 1  # 64 voxels, 32 shared
    a[8:, 8:, 8:] = 2
    va = Volume.from_parts(a, [1, 1, 1], [0, 0, 0], np.eye(3))
    vb = Volume.from_parts(b, [1, 1, 1], [0, 0, 0], np.eye(3))
    result = dice(va, vb)
    assert result[1] == pytest.approx(0.5) and result[2] == 0.0
    assert dice(va, va) == {1: 1.0, 2: 1.0}


def test_ncc_is_one_for_a_linear_remap_and_minus_one_for_a_negation() -> None:
    a = blob_volume().array
    assert ncc(a, 2 * a + 7) == pytest.approx(1.0)
    assert ncc(a, -a) == pytest.approx(-1.0)


def test_mutual_information_of_an_image_with_itself_is_its_entropy_and_beats_a_shuffle() -> None:
    a = blob_volume().array
    counts, _ = np.histogram(a, bins=32)
    p = counts[counts > 0] / a.size
    entropy = float(-(p * np.log(p)).sum())
    assert mutual_information(a, a) == pytest.approx(entropy, rel=1e-9)
    shuffled = np.random.default_rng(1).permutation(a.ravel()).reshape(a.shape)
    assert mutual_information(a, shuffled) < 0.05 * entropy
    assert mutual_information(a, 300 - a) == pytest.approx(entropy, rel=1e-9)  # MI ignores how values map


def test_resample_identity_on_the_same_grid_gives_the_same_voxels() -> None:
    v = blob_volume()
    out = resample_to(v, v)
    assert np.allclose(out.array, v.array, atol=1e-4)
    assert np.array_equal(out.affine, v.affine) and out.array.dtype == v.array.dtype


def test_resample_through_the_true_shift_undoes_it_and_similarity_improves() -> None:
    fixed, moving = blob_volume(), blob_volume(shift_mm=(6.0, -4.0, 2.0))
    truth = np.eye(4)
    truth[:3, 3] = [6.0, -4.0, 2.0]  # a fixed point's twin sits 6, -4, 2 mm away in the moving image
    aligned = resample_to(fixed, moving, truth)
    inner = (slice(5, 35),) * 3  # away from the border the shift pulls in
    assert np.allclose(aligned.array[inner], fixed.array[inner], atol=1e-3)
    transform = sitk.TranslationTransform(3, (6.0, -4.0, 2.0))
    s = before_after(fixed, moving, transform)
    assert s.ncc_after > 0.999 > s.ncc_before and s.mi_after > s.mi_before
