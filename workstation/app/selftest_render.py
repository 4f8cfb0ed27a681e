"""The self-test's GUI half: one offscreen VTK frame of a small volume, and the whole run for ``--self-test``.

Why here and not in ``workstation.selftest``: the other checks must run
without Qt or VTK; this one exercises what only the GUI needs (the OpenGL2
render window, the volume ray caster, FreeType text) with the same classes the
3D view uses. It is skipped, not failed, when there is no display to render on.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction
from vtkmodules.vtkRenderingCore import (
    vtkColorTransferFunction,
    vtkRenderer,
    vtkRenderWindow,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

from widgets.gl_info import renderer_string
from widgets.vtk_bridge import capture, image_data, text_actor
from workstation.licences import components
from workstation.selftest import Skipped, run_self_test, standard_checks

FRAME_SIZE = (160, 120)
BACKGROUND = (0.0, 0.0, 0.0)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _sphere(size: int = 32) -> np.ndarray:
    k, j, i = np.indices((size, size, size), dtype=np.float32) - (size - 1) / 2
    return np.clip(1000.0 - 90.0 * np.sqrt(i * i + j * j + k * k), 0.0, None).astype(np.float32)


def render_frame() -> tuple[np.ndarray, str]:
    """A volume-rendered sphere with a text label, offscreen; the frame (h, w, 3) and the OpenGL renderer."""
    image = image_data(_sphere(), np.ones(3), np.zeros(3))
    colours = vtkColorTransferFunction()
    colours.AddRGBPoint(0.0, 1.0, 0.6, 0.2)
    colours.AddRGBPoint(1000.0, 1.0, 0.6, 0.2)
    opacity = vtkPiecewiseFunction()
    opacity.AddPoint(0.0, 0.0)
    opacity.AddPoint(300.0, 1.0)
    prop = vtkVolumeProperty()
    prop.SetColor(colours)
    prop.SetScalarOpacity(opacity)
    mapper = vtkSmartVolumeMapper()
    mapper.SetInputData(image)
    volume = vtkVolume()
    volume.SetMapper(mapper)
    volume.SetProperty(prop)
    label = text_actor(12, (0.2, 0.6, 1.0))
    label.SetInput("self-test")
    renderer = vtkRenderer()
    renderer.SetBackground(*BACKGROUND)
    renderer.AddVolume(volume)
    renderer.AddActor(label)
    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(*FRAME_SIZE)
    window.AddRenderer(renderer)
    try:
        renderer.ResetCamera()
        window.Render()
        return capture(window), renderer_string(window)
    finally:
        window.Finalize()


def check_render(_folder: Path) -> str:
    if not has_display():
        raise Skipped("no display (DISPLAY and WAYLAND_DISPLAY unset)")
    frame, gl = render_frame()
    h, w, _ = frame.shape
    centre = frame[h // 3: 2 * h // 3, w // 3: 2 * w // 3]
    if centre[..., 0].mean() < 100 or centre[..., 0].mean() <= centre[..., 2].mean():  # an orange sphere
        raise RuntimeError(f"the volume did not render (centre mean RGB {centre.reshape(-1, 3).mean(0).round()})")
    text = (frame[..., 2].astype(int) - frame[..., 0].astype(int)) > 60  # only the blue label is bluer than red
    if not text.any():
        raise RuntimeError("the text label did not render (FreeType)")
    return f"{w}x{h} frame, {len(np.unique(frame.reshape(-1, 3), axis=0))} colours, OpenGL: {gl}"


def check_about(_folder: Path) -> str:
    """Every component the About dialog credits must show its version: a bundle without its metadata would not."""
    credited = [c.distribution for c in components() if c.distribution and c.bundled]
    missing = []
    for distribution in credited:
        try:
            version(distribution)
        except PackageNotFoundError:
            missing.append(distribution)
    if missing:
        raise RuntimeError(f"no version (package metadata) for {', '.join(missing)}")
    return f"{len(credited)} components credited with their versions and licences"


def self_test() -> int:
    """``workstation --self-test``: the standard checks, the About dialog's credits and one rendered frame."""
    return run_self_test([*standard_checks(), ("about", check_about), ("render", check_render)])
