# bgtask-mcp: MCP server for the background tasks of Distributed Message Service.
#
#   docker build -t bgtask-mcp .
#   HTTP (default):  docker run --rm -p 127.0.0.1:8000:8000 -e BGTASK_HTTP_TOKEN=... --env-file dms.env bgtask-mcp
#   stdio:           docker run -i --rm --env-file dms.env bgtask-mcp serve
#                    (add --no-healthcheck: there is no HTTP endpoint to probe in stdio mode)
#
# The default command binds 0.0.0.0 inside the container, so the server insists on a bearer
# token (BGTASK_HTTP_TOKEN) at run time. The HEALTHCHECK probes /healthz on port 8000; set
# BGTASK_HEALTHCHECK_URL when you serve on another port (it is read by the health check only).
# The image carries the optional features of a team service: OAuth (PyJWT), the shared Redis cache and
# OpenTelemetry export. It builds with the engine's built-in BuildKit frontend (no frontend image is pulled);
# deploy/check_image.py builds it and checks that it starts, even where no registry is reachable.

ARG PYTHON_IMAGE=python:3.12-slim

# ---------------------------------------------------------------------------------------------
# builder: the project wheel plus the wheels of every runtime dependency, nothing installed
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    sh deploy/build-wheels.sh /wheels

# ---------------------------------------------------------------------------------------------
# runtime: the wheels only; no compilers, no build tools, no pip cache, no source tree
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ARG VERSION=0.1.0

LABEL org.opencontainers.image.title="bgtask-mcp" \
      org.opencontainers.image.description="MCP server for the background tasks of Distributed Message Service (Kafka, RabbitMQ, RocketMQ) on Open Telekom Cloud and Huawei Cloud" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/bgtask-mcp/bgtask-mcp" \
      org.opencontainers.image.url="https://github.com/bgtask-mcp/bgtask-mcp" \
      org.opencontainers.image.vendor="bgtask-mcp maintainers" \
      io.modelcontextprotocol.server.name="io.github.bgtask-mcp/bgtask-mcp"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# The wheels are bind-mounted from the builder, so they never become a layer of this image.
# --no-index: only the wheels built above are installed, nothing is fetched at this point.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links=/wheels \
        "$(echo /wheels/bgtask_mcp-*.whl)[oauth,redis,otel]" \
 && groupadd --gid 10001 bgtask \
 && useradd --no-log-init --uid 10001 --gid 10001 \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin bgtask

USER 10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = os.environ.get('BGTASK_HEALTHCHECK_URL', 'http://127.0.0.1:8000/healthz'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

ENTRYPOINT ["bgtask-mcp"]
CMD ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8000"]
