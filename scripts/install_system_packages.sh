#!/usr/bin/env bash
# Debian packages the slow end-to-end tests need (idempotent: installs only what is missing):
#   chromium    the browser the UI tests drive through Playwright (never a downloaded browser build)
#   postgresql  the server the split-deployment test starts on 127.0.0.1 with a temporary data directory
# Only with RETINA_IMAGE_TEST=1 (the opt-in image test, retina_assets_tests/e2e/test_image.py), so the
# default run installs nothing more:
#   buildah     builds and runs the Dockerfile's image without a Docker daemon (scripts/build_image.sh)
#   mmdebstrap  makes that image's Debian base from Debian's packages (no image registry needed)
# Needs root or sudo and Debian/Ubuntu apt. Elsewhere it says what is missing and those tests skip.
set -euo pipefail

wanted="chromium, postgresql"
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ "${RETINA_IMAGE_TEST:-}" = 1 ]; then
  wanted="$wanted, buildah, mmdebstrap"
  command -v buildah >/dev/null 2>&1 || need+=(buildah)
  command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
fi
if [ ${#need[@]} -eq 0 ]; then
  echo "==> system packages present ($wanted)"
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
