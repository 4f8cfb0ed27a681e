"""The GUI application: main window and controllers wiring widgets to jobs, library and registration.

Importing it first repairs PySide6 6.12.0's reference loss in ``Signal.emit``
(see ``qt_fixes``), so every window and test that uses the app is safe.
"""

from workstation.app import qt_fixes

qt_fixes.install()
