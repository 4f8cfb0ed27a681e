"""The viewer's state as a pure, evented model: layers, crosshair, windows, cameras, links (no Qt, no VTK).

``model.ViewerModel`` is what widgets draw and what the app changes;
``layers`` holds what a slot shows; ``display`` the window presets and the
MPR geometry (slice stacks, oblique planes, reslice grids).
"""

from workstation.viewer_model.layers import (
    FusedLayer,
    FusionSettings,
    ImageLayer,
    LabelsLayer,
    LandmarksLayer,
    MeasurementsLayer,
)
from workstation.viewer_model.model import Links, Slot, ViewerModel

__all__ = ["FusedLayer", "FusionSettings", "ImageLayer", "LabelsLayer", "LandmarksLayer", "Links",
           "MeasurementsLayer", "Slot", "ViewerModel"]
