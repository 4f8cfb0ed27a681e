"""Qt and VTK views, panels and overlays: they show Volumes and emit what the user did."""
