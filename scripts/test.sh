#!/usr/bin/env bash
# README command 2: set up everything (Python deps from uv.lock, the Azurite emulator from npm) and run
# the linter and the whole test suite. Browser screenshots land in test-artifacts/browser/. Extra arguments go to pytest (e.g. `-k storage`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f scripts/install_azurite.sh ]; then bash scripts/install_azurite.sh; fi
# chromium (browser tests), postgresql (split deployment test); buildah, mmdebstrap with RETINA_IMAGE_TEST=1
bash scripts/install_system_packages.sh

echo "==> ruff"
.venv/bin/ruff check retina_assets retina_assets_tests benchmarks
.venv/bin/ruff format --check retina_assets retina_assets_tests benchmarks

echo "==> import-linter (layers point down; no Dagster below retina_assets/defs)"
.venv/bin/lint-imports

echo "==> pytest"
export PYTHONUNBUFFERED=1
exec .venv/bin/pytest -ra --durations=15 "$@"
