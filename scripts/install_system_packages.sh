#!/usr/bin/env bash
# Debian packages the slow end-to-end tests need (idempotent: installs only what is missing):
#   chromium    the browser the UI tests drive through Playwright (never a downloaded browser build)
#   postgresql  the server the split-deployment test starts on 127.0.0.1 with a temporary data directory
# Needs root or sudo and Debian/Ubuntu apt. Elsewhere it says what is missing and those tests skip.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
  echo "==> system packages present (chromium, postgresql)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: no apt-get; install ${need[*]} yourself (the browser/Postgres tests skip without them)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "warning: not root and no sudo; install ${need[*]} yourself (those tests skip without them)" >&2
    exit 0
  fi
fi
echo "==> apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "==> installed ${need[*]}"
