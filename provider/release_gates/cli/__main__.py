"""``python -m release_gates.cli``."""

from __future__ import annotations

import sys

from release_gates.cli import main

sys.exit(main())
