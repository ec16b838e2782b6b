#!/usr/bin/env bash
# Build the code-location image (Dockerfile) where there is no Docker daemon and no image registry: the
# Debian bookworm base is made from Debian's packages with mmdebstrap, then buildah builds the Dockerfile on
# it (vfs storage, chroot isolation: no daemon, no overlay mounts). Python packages come from uv.lock.
#   bash scripts/build_image.sh            -> image localhost/retina-assets (IMAGE=... to rename)
# Needs root (or a user namespace) and the Debian packages mmdebstrap and buildah.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/retina-assets}
BASE=localhost/retina-base-bookworm
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
for tool in mmdebstrap buildah; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done
if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "==> base image $BASE from Debian bookworm packages (mmdebstrap)"
  mmdebstrap --variant=apt \
    --include=python3,python3-venv,ca-certificates,openjdk-17-jre-headless,procps \
    bookworm "$tmp/base.tar"
  ctr=$(buildah from scratch)
  buildah add "$ctr" "$tmp/base.tar" /
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit --rm "$ctr" "$BASE"
fi
echo "==> $IMAGE from the Dockerfile (buildah)"
tls=()
if [ -n "${SSL_CERT_FILE:-}" ] && [ -f "$SSL_CERT_FILE" ]; then
  # a host that reaches PyPI through a TLS-intercepting proxy: its CA bundle, for the build steps only
  bundle=/etc/ssl/certs/ca-certificates.crt
  tls=(--volume "$SSL_CERT_FILE:$bundle:ro" --build-arg PIP_CERT=$bundle --build-arg SSL_CERT_FILE=$bundle)
fi
buildah bud --pull=never --build-arg BASE_IMAGE="$BASE" "${tls[@]}" -t "$IMAGE" .
echo "==> built $IMAGE"
