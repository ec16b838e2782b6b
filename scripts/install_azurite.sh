#!/usr/bin/env bash
# Install the Azurite Azure Storage emulator (pinned) from the npm registry into ./node_modules
# (idempotent: does nothing when the pinned version is already there). Tests start it on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

AZURITE_VERSION=3.35.0
BIN=node_modules/.bin/azurite-blob
if [ -x "$BIN" ] && [ "$(node -p "require('./node_modules/azurite/package.json').version" 2>/dev/null)" = "$AZURITE_VERSION" ]; then
  echo "==> azurite $AZURITE_VERSION already installed"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm (Node.js >= 18) is needed to install Azurite for the Azure Blob tests" >&2
  exit 1
fi
echo "==> installing azurite $AZURITE_VERSION into ./node_modules"
npm install --no-save --no-audit --no-fund --loglevel=error --prefix . "azurite@$AZURITE_VERSION"
"$BIN" --version >/dev/null
echo "==> azurite $("$BIN" --version) ready at $BIN"
