"""``python -m workstation`` runs the program like the ``workstation`` command."""

import sys

from workstation.main import main

sys.exit(main())
