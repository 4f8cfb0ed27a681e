"""Orientation labels and display planes in LPS."""

import numpy as np
import pytest

from workstation import geometry


@pytest.mark.parametrize("vector,label", [
    ((1, 0, 0), "L"), ((-1, 0, 0), "R"), ((0, 1, 0), "P"), ((0, -1, 0), "A"),
    ((0, 0, 1), "S"), ((0, 0, -1), "I"), ((0.7, -0.7, 0.0), "LA"), ((0.02, 0, -1), "I"),
    ((0.3, 0.0, -0.9), "IL"),
])
def test_orientation_label(vector, label) -> None:
    assert geometry.orientation_label(vector) == label


@pytest.mark.parametrize("name,edges", [
    ("axial", {"left": "R", "right": "L", "top": "A", "bottom": "P"}),
    ("coronal", {"left": "R", "right": "L", "top": "S", "bottom": "I"}),
    ("sagittal", {"left": "A", "right": "P", "top": "S", "bottom": "I"}),
])
def test_standard_planes_follow_radiological_convention(name, edges) -> None:
    assert geometry.standard_plane(name, (0, 0, 0)).edge_labels() == edges


def test_plane_round_trip_and_rotation() -> None:
    plane = geometry.standard_plane("axial", (10, 20, 30))
    point = plane.to_world(5.0, -3.0)
    assert np.allclose(point, (15, 17, 30))
    assert np.allclose(plane.to_plane(point), (5.0, -3.0, 0.0))
    turned = plane.rotated(geometry.rotation_matrix((0, 0, 1), 90))
    assert np.allclose(turned.right, (0, 1, 0), atol=1e-12)
    assert turned.edge_labels()["right"] == "P"


def test_axis_codes_and_bounds() -> None:
    affine = geometry.affine_from((1, 2, 3), (0, 0, 0), np.diag([-1.0, 1.0, -1.0]))
    assert geometry.axis_codes(affine) == "RPI"
    lo, hi = geometry.bounds(affine, (4, 5, 6))
    assert np.allclose(lo, (-5, 0, -9)) and np.allclose(hi, (0, 8, 0))
