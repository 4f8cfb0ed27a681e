"""Transform files: .tfm, .h5 and JSON round trips, and the LPS/RAS matrices saying which way they map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from registration.transforms import (
    MAPS,
    lps_to_ras_matrix,
    matrix_lps,
    read_transform,
    transform_from_matrix,
    write_transform,
)
from workstation.errors import RegistrationError
from workstation.geometry import rotation_matrix

POINTS = np.array([[0.0, 0.0, 0.0], [120.0, -40.0, 15.0], [-80.0, 95.0, -210.0]])


def rigid() -> sitk.Euler3DTransform:
    t = sitk.Euler3DTransform()
    t.SetCenter((10.0, -20.0, -100.0))
    t.SetRotation(0.1, -0.2, 3.0)
    t.SetTranslation((5.0, 40.0, 87.0))
    return t


def mapped(t: sitk.Transform) -> np.ndarray:
    return np.array([t.TransformPoint(tuple(p)) for p in POINTS])


def test_matrix_maps_points_as_itk_does() -> None:
    t = rigid()
    m = matrix_lps(t)
    assert np.allclose(POINTS @ m[:3, :3].T + m[:3, 3], mapped(t), atol=1e-9)


def test_composite_matrix_applies_its_last_added_transform_first() -> None:
    a, b = rigid(), sitk.TranslationTransform(3, (1.0, 2.0, 3.0))
    composite = sitk.CompositeTransform([a, b])
    assert np.allclose(POINTS @ matrix_lps(composite)[:3, :3].T + matrix_lps(composite)[:3, 3], mapped(composite))
    assert np.allclose(matrix_lps(composite), matrix_lps(a) @ matrix_lps(b))


@pytest.mark.parametrize("suffix", [".tfm", ".h5", ".json"])
def test_rigid_round_trip(tmp_path: Path, suffix: str) -> None:
    path = write_transform(rigid(), tmp_path / f"t{suffix}")
    back = read_transform(path)
    assert np.allclose(mapped(back), mapped(rigid()), atol=1e-9)
    assert list(tmp_path.iterdir()) == [path]  # no temporary left behind


@pytest.mark.parametrize("suffix", [".tfm", ".h5", ".json"])
def test_affine_round_trip(tmp_path: Path, suffix: str) -> None:
    m = np.eye(4)
    m[:3, :3] = rotation_matrix([1, 1, 0], 30) @ np.diag([1.1, 0.9, 1.0])
    m[:3, 3] = [3.0, -7.0, 11.0]
    back = read_transform(write_transform(transform_from_matrix(m, [5.0, 6.0, 7.0]), tmp_path / f"a{suffix}"))
    assert np.allclose(matrix_lps(back), m, atol=1e-9)


def test_json_labels_both_matrices_and_ras_is_lps_with_x_and_y_flipped(tmp_path: Path) -> None:
    path = write_transform(rigid(), tmp_path / "t.json")
    data = json.loads(path.read_text())
    lps = np.array(data["matrix_lps"]["matrix"])
    ras = np.array(data["matrix_ras"]["matrix"])
    assert data["matrix_lps"]["maps"] == data["matrix_ras"]["maps"] == MAPS == data["maps"]
    assert (data["matrix_lps"]["frame"], data["matrix_ras"]["frame"]) == ("LPS", "RAS")
    flip = np.array([-1.0, -1.0, 1.0])
    for p, q in zip(POINTS, mapped(rigid()), strict=True):
        assert np.allclose(ras[:3, :3] @ (p * flip) + ras[:3, 3], q * flip, atol=1e-9)  # same move, in RAS
    assert np.allclose(lps_to_ras_matrix(ras), lps)


def test_json_with_only_the_ras_matrix_reads_as_the_same_transform(tmp_path: Path) -> None:
    data = json.loads(write_transform(rigid(), tmp_path / "t.json").read_text())
    del data["matrix_lps"]
    (tmp_path / "ras.json").write_text(json.dumps(data))
    assert np.allclose(mapped(read_transform(tmp_path / "ras.json")), mapped(rigid()), atol=1e-9)


def test_bspline_cannot_be_json_but_round_trips_as_h5(tmp_path: Path) -> None:
    image = sitk.Image([20, 20, 20], sitk.sitkFloat32)
    spline = sitk.BSplineTransformInitializer(image, [3, 3, 3], 3)
    params = np.linspace(-2, 2, spline.GetNumberOfParameters())
    spline.SetParameters(params.tolist())
    with pytest.raises(RegistrationError, match="not a matrix"):
        write_transform(spline, tmp_path / "s.json")
    assert not any(tmp_path.iterdir())
    back = read_transform(write_transform(spline, tmp_path / "s.h5"))
    assert np.allclose(back.TransformPoint((7.0, 8.0, 9.0)), spline.TransformPoint((7.0, 8.0, 9.0)))


def test_bad_files_are_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(RegistrationError, match=r"bad\.json: no 4x4"):
        read_transform(tmp_path / "bad.json")
    (tmp_path / "bad.tfm").write_text("not a transform\n")
    with pytest.raises(RegistrationError, match=r"bad\.tfm: not an ITK transform"):
        read_transform(tmp_path / "bad.tfm")
    with pytest.raises(RegistrationError, match=r"t\.xyz: unknown transform file type"):
        write_transform(rigid(), tmp_path / "t.xyz")
    with pytest.raises(RegistrationError, match="no such transform file"):
        read_transform(tmp_path / "missing.h5")
