"""The temporary lake the tests run against, and where the team's shared public datasets are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from retina_assets.settings import REPO_ROOT, LakeSettings

# The team's shared public datasets live beside the checkout (``../shared/data``); override with
# RETINA_SHARED_DATA when the checkout is elsewhere.
SHARED_DATA = Path(os.environ.get("RETINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class LakeEnv:
    """A temporary lake, landing zone and clients folder, exported as the RETINA_* variables."""

    lake: Path
    landing: Path
    clients_dir: Path

    @property
    def settings(self) -> LakeSettings:
        return LakeSettings(str(self.lake), str(self.landing), str(self.clients_dir))
