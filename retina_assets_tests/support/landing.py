"""Landing files as a finished upload: a drop written by a test counts as complete for its client."""

from __future__ import annotations

import os
import time
from pathlib import Path


def settled(*paths: Path, seconds_ago: float = 3600) -> None:
    """Set the modification time of local ``paths`` to ``seconds_ago`` seconds ago, past any quiet period:
    the upload finished a while ago (a raw run refuses a drop modified more recently than that)."""
    then = time.time() - seconds_ago
    for path in paths:
        os.utime(path, (then, then))
