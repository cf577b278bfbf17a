"""Where the team's shared contract and tools live: ../shared beside the checkout, or CLICKPLANE_SHARED_DIR.

A clone elsewhere has no such directory: the tests that compare clickplane with the reference there skip,
saying where they looked. Nothing clickplane itself needs to run or to be tested lives there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DIR = Path(os.environ.get("CLICKPLANE_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")


def shared_file(*parts: str) -> Path:
    """A file of the shared directory; skips the calling test when it is not there."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: the shared reference is looked for at ../shared beside the checkout, "
                    "or where CLICKPLANE_SHARED_DIR says")
    return path
