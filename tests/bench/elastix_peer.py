"""itk-elastix as the peer the benchmarks measure us against (the ``bench`` extra installs it).

One way to hand a Volume to elastix, to run its default parameter maps and
to read its result back as points or a matrix, shared by every benchmark so
that each measures the same peer the same way.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def itk_image(volume: Any) -> Any:
    """The Volume as an ``itk.Image[F, 3]`` with the same LPS geometry."""
    import itk

    image = itk.image_from_array(np.ascontiguousarray(volume.array, dtype=np.float32))
    spacing, origin, direction = volume.geometry_parts()
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in origin])
    image.SetDirection(itk.matrix_from_array(np.ascontiguousarray(direction)))
    return image


def register(fixed: Any, moving: Any, maps: list[str], seed: int = 0,
             start: np.ndarray | None = None) -> tuple[Any, float]:
    """elastix with its default maps (e.g. ``["rigid"]`` or ``["rigid", "bspline"]``): (combined transform, wall s).

    ``fixed`` and ``moving`` are itk images; ``start`` an optional 4x4 LPS
    matrix (fixed point -> moving point) elastix starts from. Only the
    ``Update`` is timed.
    """
    import itk

    parameters = itk.ParameterObject.New()
    for n, name in enumerate(maps):
        parameters.AddParameterMap(parameters.GetDefaultParameterMap(name))
        parameters.SetParameter(n, "WriteResultImage", "false")
        parameters.SetParameter(n, "RandomSeed", str(seed + 1))
    image_type = itk.Image[itk.F, 3]
    method = itk.ElastixRegistrationMethod[image_type, image_type].New()
    method.SetFixedImage(fixed)
    method.SetMovingImage(moving)
    method.SetParameterObject(parameters)
    if start is not None:
        initial = itk.AffineTransform[itk.D, 3].New()
        initial.SetMatrix(itk.matrix_from_array(np.ascontiguousarray(start[:3, :3])))
        initial.SetTranslation([float(v) for v in start[:3, 3]])
        method.SetInitialTransform(initial)
    method.SetLogToConsole(False)
    wall = time.perf_counter()
    method.Update()
    return method.GetCombinationTransform(), time.perf_counter() - wall


def map_points(transform: Any, points: np.ndarray) -> np.ndarray:
    """LPS points (N x 3) through an elastix result transform."""
    return np.array([transform.TransformPoint([float(c) for c in p]) for p in np.asarray(points)])


def matrix_of(transform: Any) -> np.ndarray:
    """A linear elastix result as a 4x4 LPS matrix, read from four non-coplanar points."""
    basis = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [0.0, 100.0, 0.0], [0.0, 0.0, 100.0]])
    image_of = map_points(transform, basis)
    matrix = np.eye(4)
    matrix[:3, :3] = (image_of[1:] - image_of[0]).T / 100.0
    matrix[:3, 3] = image_of[0]
    return matrix
