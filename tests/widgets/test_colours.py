"""Slice values to screen colours: the integer table gives what the window's arithmetic gives, for every value.

Integer slices are coloured through a table of every int16 and uint16 value
(``widgets.fusion.INTEGER_TABLE``); int32 slices (CT rescaled by SimpleITK,
wide PET or dose values) hold values beyond it. The reference is the grey
level of each value through the window computed here in float64 numpy.
"""

from __future__ import annotations

import numpy as np
import pytest

from widgets.fusion import INTEGER_TABLE, Display, coloured_words
from workstation.viewer_model.display import Window

BEYOND = np.array([INTEGER_TABLE[0] - 1, -100_000, INTEGER_TABLE[1] + 1, 70_000, 200_000, 2**31 - 1, -(2**31)])


def grey_words(values: np.ndarray, window: Window) -> np.ndarray:
    """0xFFRRGGBB of each value on the Grey map: 255 levels across the window, rounded, clipped at its ends."""
    level = np.floor(np.clip((values.astype(np.float64) - window.lower) * 255 / window.width + 0.5, 0, 255))
    return (0xFF000000 + level.astype(np.uint32) * 0x010101).astype(np.uint32)


@pytest.mark.parametrize("window", [Window(40, 400), Window(100_000, 100_000), Window(-60_000, 40_000),
                                    Window(65_000, 2_000)])
def test_int32_values_inside_and_beyond_the_table_take_their_windowed_grey(window):
    rng = np.random.default_rng(1)
    spread = rng.integers(int(window.lower - window.width), int(window.upper + window.width), 5000)
    values = np.concatenate([spread, BEYOND, np.arange(-1100, 3100)]).astype(np.int32).reshape(-1, 1)
    words = coloured_words(values, Display(window))
    expected = grey_words(values, window)
    # float32 arithmetic in the views: a value a hair from a level's edge may round to the next level
    levels_apart = np.abs((words & 0xFF).astype(int) - (expected & 0xFF).astype(int))
    assert levels_apart.max() <= 1 and np.mean(levels_apart == 0) > 0.99
    assert np.array_equal(words[:, 0] >> 24, np.full(len(values), 0xFF))
    ends = (values <= window.lower) | (values >= window.upper)
    assert np.array_equal(words[ends], expected[ends]), "beyond the window: black or white exactly"


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8])
def test_every_value_of_a_narrow_type_takes_its_windowed_grey(dtype):
    info = np.iinfo(dtype)
    values = np.arange(info.min, info.max + 1).astype(dtype).reshape(1, -1)
    window = Window(1000, 3000)
    words = coloured_words(values, Display(window))
    levels_apart = np.abs((words & 0xFF).astype(int) - (grey_words(values, window) & 0xFF).astype(int))
    assert levels_apart.max() <= 1 and np.mean(levels_apart == 0) > 0.99
