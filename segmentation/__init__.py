"""Segmentation logic without GUI: editing tools, islands, statistics and an undo history on a ``LabelMap``.

Pure: numpy, SimpleITK and workstation.volume/geometry/labels. No Qt, VTK or
DICOM, so the viewer, the CLI and experiments share one implementation and
tests run without a display.
"""
