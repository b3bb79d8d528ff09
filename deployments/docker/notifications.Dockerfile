# syntax=docker/dockerfile:1
# The Notification Service image (emails customers about their orders over SMTP).
# Build from the repository root (the context is the whole repository, filtered by .dockerignore):
#   docker build -f deployments/docker/notifications.Dockerfile -t ecommerce/notifications .
# Run: `python -m notifications` serves (migrating its database first); `migrate` as the argument migrates and exits.
# Settings come from the environment (.env.example lists them all).

# Both stages use the same interpreter, so the virtual environment built in the first runs in the second.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The uv of the Makefile (UV_VERSION), from PyPI.
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# 1. Third-party dependencies only, from the lock file: this layer is rebuilt only when uv.lock or a
#    pyproject.toml changes. `--locked` checks the lock against the whole workspace, hence every member's
#    pyproject.toml; `--package` installs this service and what it depends on, nothing else.
COPY pyproject.toml uv.lock ./
COPY generated/contracts/pyproject.toml generated/contracts/
COPY sdk/pyproject.toml sdk/
COPY tools/spectools/pyproject.toml tools/spectools/
COPY tools/devstack/pyproject.toml tools/devstack/
COPY bench/pyproject.toml bench/
COPY services/runtime/pyproject.toml services/runtime/
COPY services/orders/pyproject.toml services/orders/
COPY services/payments/pyproject.toml services/payments/
COPY services/notifications/pyproject.toml services/notifications/
COPY services/gateway/pyproject.toml services/gateway/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --no-install-workspace --package ecommerce-notifications

# 2. The workspace packages this service is made of, installed as wheels (not editable: the source tree
#    stays behind in this stage).
COPY generated/contracts generated/contracts
COPY services/runtime services/runtime
COPY services/notifications services/notifications
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package ecommerce-notifications

FROM ${PYTHON_IMAGE} AS runtime
# A numeric, unprivileged user (Kubernetes' runAsNonRoot can verify a numeric UID); no installers left.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && install --directory --owner=10001 --group=10001 /var/lib/ecommerce \
    && python -m pip uninstall --yes --quiet pip setuptools wheel
COPY --from=build /app/.venv /app/.venv
COPY deployments/docker/healthcheck.py /app/healthcheck.py
# The bind address inside a container is every interface (the service's own default is the loopback).
# VAR_DIR is where embedded state would go without a database URL: mount a volume there (or set the URL).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VAR_DIR=/var/lib/ecommerce \
    NOTIFICATIONS_GRPC_BIND=0.0.0.0:50053
WORKDIR /app
USER 10001:10001
EXPOSE 50053
# Ready = the gRPC health of the whole server (the empty service name): SERVING once the service
# consumes its queue. Compose waits on it (depends_on: service_healthy).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/healthcheck.py", "grpc", "NOTIFICATIONS_GRPC_BIND"]
ENTRYPOINT ["python", "-m", "notifications"]
CMD ["serve"]
