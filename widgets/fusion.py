"""How two resliced images of one plane are combined on screen: alpha blend, colour overlay, checkerboard, difference.

Why numpy and not a chain of VTK filters: the four modes, the swap and a
checkerboard whose squares are a given size in millimetres of the screen
plane are a few lines of array arithmetic on two 2D slices of the same grid,
exact and testable without a window, while VTK's checkerboard filter only
divides an extent into a number of parts. A slice is at most a few hundred
thousand pixels, so a composite costs a few milliseconds per frame.

Both inputs are float slices on the same plane grid; the moving one is NaN
where the moving volume has no data (outside its grid), and there the fixed
image shows alone whatever the mode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from widgets.vtk_bridge import colormap_rgb
from workstation.viewstate import Window

MODES = ("blend", "overlay", "checkerboard", "difference")
OVERLAY_COLORMAP = "Hot iron"


@dataclass(frozen=True)
class FusionSettings:
    """What the fusion controls say; ``opacity`` is the weight of the image on top (0 shows only the other)."""

    mode: str = "blend"
    opacity: float = 0.5
    square_mm: float = 20.0
    swap: bool = False  # False: moving on top (it is blended, coloured or drawn in the odd squares)
    moving_window: Window | None = None  # None: the moving volume's default window
    overlay_colormap: str = OVERLAY_COLORMAP

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown fusion mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"opacity must be within 0..1, got {self.opacity}")
        if self.square_mm <= 0:
            raise ValueError(f"checkerboard squares must be larger than 0 mm, got {self.square_mm}")

    def with_(self, **changes: object) -> FusionSettings:
        return replace(self, **changes)


@dataclass(frozen=True)
class Display:
    """How one image's values become colours: its window, colour map and inversion."""

    window: Window
    colormap: str = "Grey"
    invert: bool = False


def normalised(values: np.ndarray, window: Window) -> np.ndarray:
    """Values mapped linearly to 0..1 across the window (clipped), as a view's lookup table does."""
    return np.clip((values - window.lower) / max(window.width, 1e-6), 0.0, 1.0)


def coloured(values: np.ndarray, display: Display, entries: int = 256) -> np.ndarray:
    """(h, w, 3) float 0..1 colours of a slice through the display's colour map (NaN counts as the lowest)."""
    level = np.nan_to_num(normalised(values, display.window), nan=0.0)
    table = colormap_rgb(display.colormap, entries, display.invert)
    return table[np.rint(level * (entries - 1)).astype(np.intp)]


def checker_mask(shape: tuple[int, int], origin: tuple[float, float], spacing: tuple[float, float],
                 square_mm: float) -> np.ndarray:
    """True on the odd squares of a checkerboard of ``square_mm`` squares in plane millimetres.

    The squares are anchored at the plane's (0, 0), the centre the view
    reslices about, so they stay put while the slice scrolls.
    """
    rows, cols = shape
    u = origin[0] + np.arange(cols) * spacing[0]
    v = origin[1] + np.arange(rows) * spacing[1]
    iu = np.floor(u / square_mm).astype(np.int64)
    iv = np.floor(v / square_mm).astype(np.int64)
    return ((iv[:, None] + iu[None, :]) % 2).astype(bool)


def composite(fixed: np.ndarray, moving: np.ndarray, fixed_display: Display, moving_display: Display,
              settings: FusionSettings, origin: tuple[float, float] = (0.0, 0.0),
              spacing: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """The fused slice as (h, w, 3) uint8; ``origin``/``spacing`` place the grid in plane mm (checkerboard)."""
    inside = ~np.isnan(moving)
    if settings.mode == "difference":
        diff = np.abs(normalised(fixed, fixed_display.window)
                      - normalised(np.nan_to_num(moving), moving_display.window))
        grey = Display(Window(0.5, 1.0), fixed_display.colormap, fixed_display.invert)
        out = np.where(inside[..., None], coloured(diff, grey), coloured(fixed, fixed_display))
        return _to_bytes(out)
    if settings.mode == "overlay":
        moving_display = replace(moving_display, colormap=settings.overlay_colormap, invert=False)
    f_rgb, m_rgb = coloured(fixed, fixed_display), coloured(moving, moving_display)
    top, bottom = (f_rgb, m_rgb) if settings.swap else (m_rgb, f_rgb)
    if settings.mode == "checkerboard":
        odd = checker_mask(fixed.shape, origin, spacing, settings.square_mm)
        out = np.where(odd[..., None], top, bottom)
    else:
        weight = np.full(fixed.shape, settings.opacity)
        if settings.mode == "overlay":  # PET style: the coloured image is clear where it is below its window
            below = normalised(np.nan_to_num(fixed if settings.swap else moving, nan=-np.inf),
                               fixed_display.window if settings.swap else moving_display.window) <= 0.0
            weight = np.where(below, 0.0, weight)
        out = (1.0 - weight[..., None]) * bottom + weight[..., None] * top
    return _to_bytes(np.where(inside[..., None], out, f_rgb))


def _to_bytes(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))
