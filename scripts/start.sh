#!/usr/bin/env bash
# README command 1: set up, write the demo client's sample drops, and start the Dagster UI + daemon
# (`dagster dev`) over the embedded local lake in ./.lake. Open http://127.0.0.1:${DAGSTER_PORT:-3000}.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_SYNC_ARGS="--no-dev --inexact" bash scripts/setup.sh  # --inexact: keep dev tools if present

export RETINA_LAKE_URI=${RETINA_LAKE_URI:-$PWD/.lake}
export RETINA_LANDING_URI=${RETINA_LANDING_URI:-$PWD/.landing}
export RETINA_CLIENTS_DIR=${RETINA_CLIENTS_DIR:-$PWD/clients}
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.dagster_home}
mkdir -p "$DAGSTER_HOME" "$RETINA_LAKE_URI" "$RETINA_LANDING_URI"
cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"

echo "==> writing sample client drops to $RETINA_LANDING_URI"
.venv/bin/python -m retina_assets.demo --days "${RETINA_DEMO_DAYS:-5}"

echo "==> starting Dagster UI + daemon on http://${DAGSTER_HOST:-127.0.0.1}:${DAGSTER_PORT:-3000}"
echo "    lake: $RETINA_LAKE_URI   landing: $RETINA_LANDING_URI   DAGSTER_HOME: $DAGSTER_HOME"
# A shell that starts us in the background (CI, nohup, a service manager) hands down SIGINT (and so, in
# `dagster dev`, SIGTERM) as *ignored*: restore the default handlers before exec, so SIGTERM and Ctrl-C stop
# the webserver, the daemon and their code servers. `dagster dev` keeps this process id.
exec .venv/bin/python -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' .venv/bin/dagster dev -w workspace.yaml \
  -h "${DAGSTER_HOST:-127.0.0.1}" -p "${DAGSTER_PORT:-3000}"
