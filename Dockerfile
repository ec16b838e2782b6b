# Code-location image for Retina Lake: the Dagster code server for `retina_assets.definitions`, installed
# exactly from uv.lock. The webserver and daemon (same image, other commands) load it via gRPC.
#   docker build -t retina-assets .
#   docker run -p 4000:4000 -e RETINA_LAKE_URI=s3://bucket/lake -e AWS_ACCESS_KEY_ID ... retina-assets
# BASE_IMAGE: any Debian bookworm image with Python 3.11; scripts/build_image.sh makes one from Debian's
# packages with mmdebstrap when no image registry is reachable.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
 && rm -rf /var/lib/apt/lists/*
# pyspark finds `java` on PATH, so no architecture-specific JAVA_HOME is needed.
ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home

# Behind a TLS-intercepting proxy, pass its CA bundle for the build only (scripts/build_image.sh does):
# --volume <bundle>:/etc/ssl/certs/ca-certificates.crt:ro --build-arg PIP_CERT=... --build-arg SSL_CERT_FILE=...
ARG PIP_CERT
ARG SSL_CERT_FILE
# uv in its own venv: Debian's system Python refuses `pip install` outside one (PEP 668)
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9 && ln -s /opt/uv/bin/uv /usr/local/bin/uv
WORKDIR /app
# Dependencies first (cached layer), from the lock file only.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY retina_assets ./retina_assets
COPY clients ./clients
COPY sample_data ./sample_data
COPY notebooks ./notebooks
RUN uv sync --frozen --no-dev
# The provenance fingerprint every version records (retina_assets.model.provenance), baked into the image:
# code identity (git commit and dirty flag come from build arguments: there is no .git here), the hash of
# uv.lock and the library versions, as /app/retina-fingerprint.json and as labels.
#   docker build --build-arg RETINA_GIT_COMMIT=$(git rev-parse HEAD) \
#     --build-arg RETINA_GIT_DIRTY=$(test -z "$(git status --porcelain --untracked-files=no)" && echo false || echo true) \
#     --build-arg RETINA_UV_LOCK_SHA256=$(sha256sum uv.lock | cut -d' ' -f1) -t retina-assets .
ARG RETINA_GIT_COMMIT=""
ARG RETINA_GIT_DIRTY=""
ARG RETINA_UV_LOCK_SHA256=""
ENV RETINA_GIT_COMMIT=$RETINA_GIT_COMMIT RETINA_GIT_DIRTY=$RETINA_GIT_DIRTY
LABEL org.opencontainers.image.revision=$RETINA_GIT_COMMIT \
      retina.git_dirty=$RETINA_GIT_DIRTY \
      retina.uv_lock_sha256=$RETINA_UV_LOCK_SHA256 \
      retina.fingerprint_file=/app/retina-fingerprint.json
RUN python -m retina_assets.model.provenance > /app/retina-fingerprint.json \
 && python -c "import json,hashlib; f=json.load(open('/app/retina-fingerprint.json')); \
assert f['uv_lock_sha256'] == hashlib.sha256(open('/app/uv.lock','rb').read()).hexdigest()"
COPY dagster.yaml workspace.yaml ./
COPY deploy ./deploy
RUN mkdir -p $DAGSTER_HOME && cp dagster.yaml $DAGSTER_HOME/dagster.yaml

ENV RETINA_CLIENTS_DIR=/app/clients
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "retina_assets.definitions"]
