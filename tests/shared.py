"""Where the team's shared contract and tools live: ../shared beside the checkout, or CLICKPLANE_SHARED_DIR."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DIR = Path(os.environ.get("CLICKPLANE_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
