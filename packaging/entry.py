"""The frozen program's start: the same ``workstation.main:main`` the pip-installed console script runs.

Why a file of its own: PyInstaller needs a script, and a frozen program
must call ``multiprocessing.freeze_support()`` before anything else so that
the worker processes of a large folder scan (``forkserver``/``spawn``
children re-run this executable) do their work instead of opening a window.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from workstation.main import main

    sys.exit(main())
