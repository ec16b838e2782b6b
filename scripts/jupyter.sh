#!/usr/bin/env bash
# JupyterLab on the project's locked environment (.venv from uv.lock), over the local lake.
# Opens notebooks/ (production/ and explore/); extra arguments go to `jupyter lab` (e.g. --port 8890).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export RETINA_LAKE_URI=${RETINA_LAKE_URI:-$PWD/.lake}
export RETINA_LANDING_URI=${RETINA_LANDING_URI:-$PWD/.landing}
echo "==> JupyterLab over the lake at $RETINA_LAKE_URI (kernel: $(.venv/bin/python --version), .venv)"
extra=()
if [ "$(id -u)" = 0 ]; then extra+=(--allow-root); fi   # containers and CI machines run as root
exec .venv/bin/jupyter lab --ip 127.0.0.1 --notebook-dir notebooks "${extra[@]}" "$@"
