"""The main window and controllers that wire widgets to jobs, library and registration."""
