"""The Volume model: exact SimpleITK round trips and LPS index/world maths."""

import numpy as np
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

from workstation import geometry
from workstation.volume import Volume, array_of, sitk_array


def random_rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 2] *= -1
    return q


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), spacing=st.tuples(*[st.floats(0.1, 5.0)] * 3),
       origin=st.tuples(*[st.floats(-500, 500)] * 3))
def test_sitk_round_trip_is_bit_exact(seed: int, spacing: tuple, origin: tuple) -> None:
    direction = random_rotation(seed)
    array = np.random.default_rng(seed).integers(-1000, 3000, size=(4, 5, 6), dtype=np.int16)
    vol = Volume.from_parts(array, spacing, origin, direction)
    image = vol.to_sitk()
    assert image.GetSpacing() == tuple(spacing)
    assert image.GetOrigin() == tuple(origin)
    assert image.GetDirection() == tuple(direction.ravel())
    back = Volume.from_sitk(image)
    assert np.array_equal(back.array, array) and back.array.dtype == array.dtype
    assert np.array_equal(back.affine, vol.affine)
    again = back.to_sitk()
    assert again.GetSpacing() == image.GetSpacing() and again.GetDirection() == image.GetDirection()


def test_index_to_world_matches_sitk() -> None:
    direction = random_rotation(3)
    vol = Volume.from_parts(np.zeros((7, 8, 9), np.float32), (0.7, 1.1, 2.5), (10.0, -20.0, 30.0), direction)
    image = vol.to_sitk()
    for ijk in [(0, 0, 0), (8, 7, 6), (3, 2, 5)]:
        expected = image.TransformIndexToPhysicalPoint(ijk)
        assert np.allclose(vol.index_to_world(ijk), expected, atol=1e-9)
        assert np.allclose(vol.world_to_index(expected), ijk, atol=1e-9)


def test_value_at_reads_the_nearest_voxel_in_world_space() -> None:
    array = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    vol = Volume.from_parts(array, (2.0, 3.0, 4.0), (100.0, 0.0, 0.0), np.diag([-1.0, 1.0, 1.0]))
    # i axis points to the patient's right (-x): voxel i=3 sits at x = 100 - 6
    assert vol.value_at((94.0, 3.0, 4.0)) == array[1, 1, 3]
    assert vol.value_at((102.0, 0.0, 0.0)) is None


def test_4d_volume_needs_a_time_index_for_sitk() -> None:
    vol = Volume(np.zeros((2, 3, 4, 5), np.uint16), np.eye(4))
    assert vol.timepoints == 2 and vol.shape_ijk == (5, 4, 3)
    assert vol.frame(1).array.shape == (3, 4, 5)
    try:
        vol.to_sitk()
    except ValueError as exc:
        assert "time index" in str(exc)
    else:
        raise AssertionError("a 4D volume went to SimpleITK without a time index")


def test_lps_ras_flip() -> None:
    affine = geometry.affine_from((1, 1, 1), (10, 20, 30), np.eye(3))
    ras = geometry.lps_to_ras(affine)
    assert np.allclose(ras[:3, 3], (-10, -20, 30))
    assert np.allclose(geometry.ras_to_lps(ras), affine)


def test_read_back_from_a_written_file_keeps_geometry(tmp_path) -> None:
    vol = Volume.from_parts(np.ones((3, 4, 5), np.int16), (0.5, 0.6, 0.7), (1.0, 2.0, 3.0), random_rotation(11))
    sitk.WriteImage(vol.to_sitk(), str(tmp_path / "v.nrrd"))
    back = Volume.from_sitk(sitk.ReadImage(str(tmp_path / "v.nrrd")))
    assert np.allclose(back.affine, vol.affine, atol=1e-9)


def test_voxels_decoded_into_sitk_arrays_go_to_simpleitk_without_a_copy() -> None:
    array = sitk_array((3, 4, 5), np.dtype(np.int16))
    array[...] = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    vol = Volume.from_parts(array, (0.5, 0.6, 0.7), (1.0, 2.0, 3.0), random_rotation(5))
    image = vol.to_sitk()
    array[0, 0, 0] = 1234  # a write after the hand-over shows through: the same buffer
    assert np.array_equal(sitk.GetArrayViewFromImage(image), vol.array)
    assert image.GetSpacing() == (0.5, 0.6, 0.7) and image.GetOrigin() == (1.0, 2.0, 3.0)
    assert image.GetDirection() == tuple(vol.direction.ravel())
    image[1, 1, 1] = -7  # a change through SimpleITK copies first: the volume stays as it was
    image.SetOrigin((9.0, 9.0, 9.0))
    assert vol.array[1, 1, 1] == 26 and vol.to_sitk().GetOrigin() == (1.0, 2.0, 3.0)
    moved = Volume.from_parts(array, (0.5, 0.6, 0.7), (0.0, 0.0, 0.0), np.eye(3))  # the same voxels elsewhere
    assert moved.to_sitk().GetOrigin() == (0.0, 0.0, 0.0) and vol.to_sitk().GetOrigin() == (1.0, 2.0, 3.0)
    assert np.array_equal(sitk.GetArrayViewFromImage(Volume(array[1:], np.eye(4)).to_sitk()), array[1:])  # a part
    assert sitk_array((2, 2, 2, 2), np.dtype(np.int16)).shape == (2, 2, 2, 2)  # 4D: a plain array


def test_array_of_keeps_the_image_alive() -> None:
    image = sitk.Image([5, 4, 3], sitk.sitkUInt8)
    image[4, 3, 2] = 9
    array = array_of(image)
    del image
    array[0, 0, 0] = 3
    assert array.shape == (3, 4, 5) and array[2, 3, 4] == 9 and array[0, 0, 0] == 3
