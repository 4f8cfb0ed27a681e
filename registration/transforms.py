"""Transforms as 4x4 matrices and as files (.tfm and .h5 for ITK tools, JSON for people and scripts).

The convention is ITK's and is written into every JSON file: a transform
maps fixed-space points to moving-space points (it pulls the moving image
onto the fixed grid). The matrix is given in LPS, the program's frame, and in
RAS for tools that think in RAS; the two differ by flipping x and y on both
sides: ``M_ras = F M_lps F`` with ``F = diag(-1, -1, 1, 1)``. 3D Slicer's
"transform to parent" for a moving image is the inverse of this matrix (in
RAS).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from workstation.atomic import atomic_output
from workstation.errors import RegistrationError, last_line
from workstation.geometry import LPS_TO_RAS

MAPS = "fixed-space points to moving-space points"
JSON_FORMAT = "workstation-transform/1"
ITK_SUFFIXES = (".tfm", ".txt", ".h5", ".hdf5", ".mat")


def _components(transform: sitk.Transform) -> list[sitk.Transform]:
    """The transforms of a (possibly nested) composite in the order they act on a point, first first."""
    t = transform.Downcast()
    if isinstance(t, sitk.CompositeTransform):
        # A composite applies its last-added transform first.
        out: list[sitk.Transform] = []
        for n in reversed(range(t.GetNumberOfTransforms())):
            out.extend(_components(t.GetNthTransform(n)))
        return out
    return [t]


def is_linear(transform: sitk.Transform) -> bool:
    return all(t.IsLinear() for t in _components(transform))


def matrix_lps(transform: sitk.Transform, linear_part: bool = False) -> np.ndarray:
    """4x4 LPS matrix of a linear transform (fixed point -> moving point).

    With ``linear_part`` the non-linear components (a B-spline's local
    displacements) are skipped, giving the bulk motion a viewer can show.
    """
    total = np.eye(4)
    for t in _components(transform):
        if not t.IsLinear():
            if linear_part:
                continue
            raise RegistrationError(f"a {t.GetName()} is not a matrix; write it as .h5 or .tfm")
        total = _single_matrix(t) @ total
    return total


def _single_matrix(t: sitk.Transform) -> np.ndarray:
    m = np.eye(4)
    if isinstance(t, sitk.TranslationTransform):
        m[:3, 3] = t.GetOffset()
        return m
    if t.GetName() == "IdentityTransform" or t.GetNumberOfParameters() == 0:
        return m
    a = np.asarray(t.GetMatrix(), dtype=np.float64).reshape(3, 3)
    c = np.asarray(t.GetCenter(), dtype=np.float64)
    m[:3, :3] = a
    m[:3, 3] = np.asarray(t.GetTranslation(), dtype=np.float64) + c - a @ c
    return m


def lps_to_ras_matrix(matrix: np.ndarray) -> np.ndarray:
    """A point-to-point matrix in LPS re-expressed in RAS (also maps RAS back to LPS)."""
    return LPS_TO_RAS @ np.asarray(matrix, dtype=np.float64) @ LPS_TO_RAS


def is_rigid(matrix: np.ndarray, tolerance: float = 1e-6) -> bool:
    a = np.asarray(matrix)[:3, :3]
    return bool(np.allclose(a.T @ a, np.eye(3), atol=tolerance) and np.linalg.det(a) > 0)


def transform_from_matrix(matrix: np.ndarray, center: np.ndarray | list[float] | None = None) -> sitk.Transform:
    """An Euler3D transform when ``matrix`` is a rotation plus shift, else an affine; centred at ``center``.

    The centre does not change where points go; it is where the optimiser's
    rotations pivot, so give the fixed image's body centre when the transform
    is a starting point for registration.
    """
    m = np.asarray(matrix, dtype=np.float64)
    c = np.zeros(3) if center is None else np.asarray(center, dtype=np.float64)
    a = m[:3, :3]
    translation = m[:3, 3] + a @ c - c
    t: sitk.Transform
    if is_rigid(m):
        t = sitk.Euler3DTransform()
        t.SetCenter(tuple(c))
        t.SetMatrix(tuple(a.ravel()), 1e-6)
    else:
        t = sitk.AffineTransform(3)
        t.SetCenter(tuple(c))
        t.SetMatrix(tuple(a.ravel()))
    t.SetTranslation(tuple(translation))
    return t


def transform_to_dict(transform: sitk.Transform) -> dict[str, Any]:
    """The JSON object: both matrices, each labelled with the direction it maps."""
    m = matrix_lps(transform)
    kind = "rigid" if is_rigid(m) else "affine"
    center = [0.0, 0.0, 0.0]
    components = _components(transform)
    if len(components) == 1 and components[0].GetNumberOfParameters():
        center = [float(x) for x in components[0].GetCenter()]
    return {
        "format": JSON_FORMAT,
        "kind": kind,
        "maps": MAPS,
        "matrix_lps": {"frame": "LPS", "maps": MAPS, "matrix": m.tolist()},
        "matrix_ras": {"frame": "RAS", "maps": MAPS, "matrix": lps_to_ras_matrix(m).tolist()},
        "center_lps": center,
    }


def transform_from_dict(data: dict[str, Any], where: str = "transform") -> sitk.Transform:
    """Inverse of ``transform_to_dict``; reads the LPS matrix, or the RAS one when only that is present."""
    try:
        if "matrix_lps" in data:
            m = np.asarray(data["matrix_lps"]["matrix"], dtype=np.float64)
        else:
            m = lps_to_ras_matrix(np.asarray(data["matrix_ras"]["matrix"], dtype=np.float64))
        center = data.get("center_lps")
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistrationError(f"no 4x4 matrix_lps or matrix_ras ({exc})", where) from exc
    if m.shape != (4, 4) or not np.all(np.isfinite(m)) or not np.allclose(m[3], [0, 0, 0, 1]):
        raise RegistrationError("the matrix is not a finite 4x4 affine", where)
    return transform_from_matrix(m, center)


def write_transform(transform: sitk.Transform, path: str | os.PathLike[str]) -> Path:
    """Save as ITK (.tfm, .txt, .h5, .hdf5, .mat) or JSON (.json, linear transforms only)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        text = json.dumps(transform_to_dict(transform), indent=2)
        with atomic_output(p, "transform") as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")
    elif suffix in ITK_SUFFIXES:
        with atomic_output(p, "transform") as tmp:
            try:
                sitk.WriteTransform(transform, str(tmp))
            except RuntimeError as exc:
                raise RegistrationError(f"cannot write the transform ({last_line(exc)})", p) from exc
    else:
        raise RegistrationError(f"unknown transform file type {suffix!r}; use .tfm, .h5 or .json", p)
    return p


def read_transform(path: str | os.PathLike[str]) -> sitk.Transform:
    """Load a transform written by ``write_transform`` or by ITK tools."""
    p = Path(path)
    if not p.is_file():
        raise RegistrationError("no such transform file", p)
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RegistrationError(f"not a JSON transform ({exc})", p) from exc
        return transform_from_dict(data, str(p))
    try:
        return sitk.ReadTransform(str(p)).Downcast()
    except RuntimeError as exc:
        raise RegistrationError(f"not an ITK transform file ({last_line(exc)})", p) from exc
