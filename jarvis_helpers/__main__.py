"""``python -m jarvis_helpers`` is the ``jarvis`` command."""

import sys

from .cli import main

sys.exit(main())
