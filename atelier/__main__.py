"""``python -m atelier`` runs the ``atelier`` command."""

import sys

from .cli import main

sys.exit(main())
