"""Which numbers a Philips MR voxel holds: display values or Philips floating-point values.

Philips stores integers and three numbers to turn them into values: Rescale
Slope/Intercept (RS, RI) give the "display" values every DICOM viewer shows,
and the private Scale Slope SS (2005,100E) gives the "floating-point" values
(FP = (stored x RS + RI) / (RS x SS); Chenevert et al. 2014, PMC3998685),
which are comparable across scans and are what dcm2niix writes
(``UsePhilipsFloatNotDisplayScaling``). So ``convert`` defaults to them, as
researchers feeding NIfTI to other tools expect, and the viewer keeps display
values (what the scanner console shows), with the FP value in the pixel
probe. A field map's display values are already Hz; dcm2niix keeps them, and
so does this.
"""

from __future__ import annotations

import math
from typing import Literal

from workstation.dicom.frames import Frame

Scaling = Literal["display", "philips-fp"]
SCALINGS: tuple[Scaling, ...] = ("philips-fp", "display")
FIELD_MAP = "FIELD_MAP"


def fp_factor(frame: Frame) -> float | None:
    """FP = display x this factor for a Philips frame with a usable Scale Slope; None for any other frame."""
    ss, rs = frame.philips_scale_slope, frame.rescale_slope
    if ss is None or frame.kind == FIELD_MAP or not (math.isfinite(ss) and ss > 0 and rs):
        return None
    return 1.0 / (rs * ss)


def to_philips_fp(frames: list[Frame]) -> bool:
    """Turn the frames' modality LUTs into Philips FP (in place); True when any frame changed."""
    changed = False
    for frame in frames:
        factor = fp_factor(frame)
        if factor is not None:
            frame.rescale_slope, frame.rescale_intercept = frame.rescale_slope * factor, \
                frame.rescale_intercept * factor
            frame.philips_scale_slope = None  # done: applying it twice would scale twice
            changed = True
    return changed
