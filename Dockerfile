# The API server image (`server` and the one-shot `migrate` service in docker-compose.yml).
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
