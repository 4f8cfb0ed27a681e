"""Initialisers that need no images: the 24 orientations, landmark fits and manual starts."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from registration.initialise import axis_rotations, describe_rotation, from_landmarks, manual, movable_transform
from workstation.errors import RegistrationError
from workstation.geometry import rotation_matrix

FIXED = np.array([[0.0, 0, 0], [80, 0, 0], [0, 60, 0], [0, 0, 40], [30, 20, -10]])


def test_the_24_axis_rotations_are_distinct_proper_rotations_identity_first() -> None:
    rotations = axis_rotations()
    assert len(rotations) == 24 and np.array_equal(rotations[0], np.eye(3))
    assert len({r.tobytes() for r in rotations}) == 24
    for r in rotations:
        assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)


def test_describe_rotation_names_the_half_turn_about_the_ap_axis() -> None:
    assert describe_rotation(np.diag([-1.0, 1.0, -1.0])) in ("180 deg about P", "180 deg about A")
    assert describe_rotation(np.eye(3)) == "identity"
    assert describe_rotation(rotation_matrix([0, 0, 1], 90)) == "90 deg about S"


def true_rigid() -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rotation_matrix([0.3, -1.0, 0.2], 170)
    m[:3, 3] = [12.0, 40.0, -90.0]
    return m


def test_landmarks_recover_a_rigid_transform_exactly() -> None:
    m = true_rigid()
    moving = FIXED @ m[:3, :3].T + m[:3, 3]
    assert np.allclose(from_landmarks(FIXED, moving), m, atol=1e-9)


def test_landmarks_recover_an_affine() -> None:
    m = true_rigid()
    m[:3, :3] = m[:3, :3] @ np.diag([1.2, 0.9, 1.05])
    moving = FIXED @ m[:3, :3].T + m[:3, 3]
    assert np.allclose(from_landmarks(FIXED, moving, "affine"), m, atol=1e-9)


def test_landmarks_that_cannot_determine_a_rotation_are_refused() -> None:
    with pytest.raises(RegistrationError, match="collinear"):
        from_landmarks(np.array([[0.0, 0, 0], [10, 0, 0], [25, 0, 0]]), FIXED[:3])
    with pytest.raises(RegistrationError, match="at least 3 point pairs"):
        from_landmarks(FIXED[:2], FIXED[:2])
    with pytest.raises(RegistrationError, match="must pair up"):
        from_landmarks(FIXED, FIXED[:4])


def test_manual_start_from_a_transform_or_a_matrix_and_the_movable_pivot() -> None:
    m = true_rigid()
    centre = np.array([5.0, 5.0, -100.0])
    t = movable_transform(m, centre, "rigid")
    assert isinstance(t, sitk.Euler3DTransform) and np.allclose(t.GetCenter(), centre)
    assert np.allclose(manual(t), m, atol=1e-9) and np.allclose(manual(m), m)
    with pytest.raises(RegistrationError, match="scales or shears"):
        movable_transform(np.diag([1.1, 1.0, 1.0, 1.0]), centre, "rigid")
    assert np.allclose(manual(movable_transform(m, centre, "affine")), m, atol=1e-9)
