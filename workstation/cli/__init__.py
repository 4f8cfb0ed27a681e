"""The command line: the same jobs as the GUI, progress on stderr, never Qt or VTK."""
