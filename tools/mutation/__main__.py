"""``python -m tools.mutation --help``."""

from __future__ import annotations

import sys

from tools.mutation.runner import main

sys.exit(main())
