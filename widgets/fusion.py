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
from functools import lru_cache

import numpy as np

from widgets.vtk_bridge import colormap_rgb
from workstation.viewer_model.display import Window
from workstation.viewer_model.layers import FUSION_MODES, FusionSettings

__all__ = ["MODES", "Display", "FusionSettings", "checker_mask", "composite"]

MODES = FUSION_MODES


@dataclass(frozen=True)
class Display:
    """How one image's values become colours: its window, colour map and inversion."""

    window: Window
    colormap: str = "Grey"
    invert: bool = False


def levels(values: np.ndarray, window: Window, entries: int = 256) -> np.ndarray:
    """Lookup-table indices (uint8) of values across the window, clipped, as a view's lookup table maps them.

    NaN (no data) maps to the first entry. float32 arithmetic: a slice is
    recomposed on the GUI thread at every live update, and float64
    temporaries of the whole slice cost more than the rest of the frame.
    """
    scale = np.float32((entries - 1) / max(window.width, 1e-6))
    level = (np.asarray(values, dtype=np.float32) - np.float32(window.lower)) * scale + np.float32(0.5)
    np.clip(level, 0, entries - 1, out=level)
    if np.issubdtype(level.dtype, np.floating) and np.issubdtype(np.asarray(values).dtype, np.floating):
        np.nan_to_num(level, copy=False, nan=0.0)
    return level.astype(np.uint8)


def colour_table(display: Display, entries: int = 256) -> np.ndarray:
    """(entries, 3) uint8 colours of the display's colour map."""
    rgb = colormap_rgb(display.colormap, entries, display.invert)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def colour_words(display: Display, entries: int = 256) -> np.ndarray:
    """(entries,) uint32 colours 0xFFRRGGBB, the pixels of a 32-bit RGB ``QImage``."""
    rgb = colour_table(display, entries).astype(np.uint32)
    return np.uint32(0xFF000000) | rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]


def rgb_of(words: np.ndarray) -> np.ndarray:
    """The (h, w, 3) uint8 red, green, blue view of (h, w) 0xFFRRGGBB pixels (little-endian memory), no copy."""
    return words.view(np.uint8).reshape(*words.shape, 4)[..., 2::-1]


INTEGER_TABLE = (-32768, 65535)
"""Stored values an integer slice is coloured through a table of (every int16 and uint16 value)."""


@lru_cache(maxsize=8)
def integer_colour_words(display: Display) -> np.ndarray:
    """Colour words of every integer value in ``INTEGER_TABLE``, exactly as ``levels`` maps each one."""
    lo, hi = INTEGER_TABLE
    return colour_words(display)[levels(np.arange(lo, hi + 1, dtype=np.int32), display.window)]


def coloured_words(values: np.ndarray, display: Display) -> np.ndarray:
    """(h, w) uint32 0xFFRRGGBB colours of a slice through the display's window and colour map.

    One gather of 32-bit words: several times faster than gathering three
    bytes per pixel, and already the screen's pixel format. Integer slices
    (CT, MR) index a table of every value directly, which skips the float
    arithmetic of ``levels``: about a millisecond of every slice step. The
    index is made as ``intp``, the type a gather indexes with (an int32
    index is converted again inside ``take``). Wider integers use the table
    too while the window lies within it: a value beyond the table is beyond
    the window on the same side, so the table's end colour is its own.
    """
    kind, size = values.dtype.kind, values.dtype.itemsize
    lo, hi = INTEGER_TABLE
    window = display.window
    within = size <= 2 or (lo <= window.lower and window.upper <= hi)
    if within and ((kind == "i" and size <= 4) or (kind == "u" and size <= 2)):
        index = np.add(values, np.intp(-lo), dtype=np.intp)
        return np.take(integer_colour_words(display), index, mode="clip")
    return np.take(colour_words(display), levels(values, window))


def coloured(values: np.ndarray, display: Display) -> np.ndarray:
    """(h, w, 3) uint8 colours of a slice through the display's window and colour map."""
    return rgb_of(coloured_words(values, display))


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
    f_rgb = coloured(fixed, fixed_display)
    if settings.mode == "difference":
        a = levels(fixed, fixed_display.window).astype(np.int16)
        b = levels(moving, moving_display.window).astype(np.int16)
        grey = Display(Window(127.5, 255.0), fixed_display.colormap, fixed_display.invert)
        out = coloured(np.abs(a - b), grey)
        return np.where(inside[..., None], out, f_rgb)
    if settings.mode == "overlay":
        moving_display = replace(moving_display, colormap=settings.overlay_colormap, invert=False)
    m_rgb = coloured(moving, moving_display)
    top, bottom = (f_rgb, m_rgb) if settings.swap else (m_rgb, f_rgb)
    if settings.mode == "checkerboard":
        odd = checker_mask(fixed.shape, origin, spacing, settings.square_mm)
        out = np.where(odd[..., None], top, bottom)
    else:
        weight = np.full(fixed.shape + (1,), np.float32(settings.opacity), dtype=np.float32)
        if settings.mode == "overlay":  # PET style: the coloured image is clear where it is below its window
            top_values, top_display = (fixed, fixed_display) if settings.swap else (moving, moving_display)
            weight[levels(top_values, top_display.window) == 0] = 0.0
        blended = bottom + (top.astype(np.float32) - bottom) * weight + np.float32(0.5)
        out = blended.astype(np.uint8)
    return np.where(inside[..., None], out, f_rgb)
