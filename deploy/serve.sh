#!/bin/sh
# One process of the split deployment, the same way everywhere (deploy/compose.yaml runs it in each
# container; retina_assets_tests/e2e/test_split_deployment.py runs it on the test machine):
#   sh deploy/serve.sh code-server|webserver|daemon        (from the repository or image root)
# It writes the instance config $DAGSTER_HOME/dagster.yaml (dagster.yaml + deploy/postgres-storage.yaml,
# replaced in one step) and then becomes the process (exec: signals reach it directly).
# Environment: DAGSTER_HOME, DAGSTER_PG_* (postgres-storage.yaml), RETINA_CODE_SERVER_HOST/PORT
# (deploy/workspace.yaml; the code server listens on that port), RETINA_WEBSERVER_PORT (default 3000),
# RETINA_LISTEN_HOST (the address servers listen on, default 0.0.0.0), RETINA_LAKE_URI/RETINA_LANDING_URI.
set -eu
role=${1:?usage: sh deploy/serve.sh code-server|webserver|daemon}
host=${RETINA_LISTEN_HOST:-0.0.0.0}
mkdir -p "$DAGSTER_HOME"
cat dagster.yaml deploy/postgres-storage.yaml > "$DAGSTER_HOME/.dagster.yaml.$$"
mv "$DAGSTER_HOME/.dagster.yaml.$$" "$DAGSTER_HOME/dagster.yaml"
case "$role" in
  code-server)
    exec dagster code-server start -h "$host" -p "$RETINA_CODE_SERVER_PORT" -m retina_assets.definitions ;;
  webserver)
    exec dagster-webserver -h "$host" -p "${RETINA_WEBSERVER_PORT:-3000}" -w deploy/workspace.yaml ;;
  daemon)
    exec dagster-daemon run -w deploy/workspace.yaml ;;
  *)
    echo "deploy/serve.sh: unknown process '$role' (code-server, webserver or daemon)" >&2
    exit 2 ;;
esac
