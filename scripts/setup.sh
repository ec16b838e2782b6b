#!/usr/bin/env bash
# Install everything the project needs from the lock file, into ./.venv (idempotent).
# Needs only Python 3.11 on PATH (python3.11 or python3); Java 17 is needed at run time for Spark.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "error: Python 3.11 is required (found $("$PY" --version 2>&1) at $PY); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
# The real interpreter, not a shim (pyenv): uv recreates the venv whenever the interpreter path differs.
PY=$("$PY" -c 'import sys; print(sys.executable)')

# uv itself goes into a private bootstrap venv so nothing is installed system-wide.
if [ ! -x .tools/uv/bin/uv ] || [ "$(.tools/uv/bin/uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  echo "==> installing uv $UV_VERSION into .tools/uv"
  "$PY" -m venv .tools/uv
  .tools/uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
export UV_PYTHON="$PY"
echo "==> syncing .venv from uv.lock"
# --compile-bytecode: every Dagster run/step process starts faster (PYTHONDONTWRITEBYTECODE may be set)
.tools/uv/bin/uv sync --frozen --compile-bytecode ${UV_SYNC_ARGS:-}
echo "==> environment ready: $(.venv/bin/python --version), dagster $(.venv/bin/python -c 'import dagster; print(dagster.__version__)')"
