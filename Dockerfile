# The API server image (`server` and the one-shot `migrate` service in docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The generated client package first: the server depends on it and it changes less often.
COPY clients/python /app/clients/python
RUN pip install /app/clients/python
COPY pyproject.toml /app/pyproject.toml
COPY server /app/server
RUN pip install /app

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin vauchflow
USER vauchflow

ENV VAUCHFLOW_GRPC_HOST=0.0.0.0 \
    VAUCHFLOW_GRPC_PORT=50051
EXPOSE 50051
# SIGTERM drains in-flight RPCs, then the process exits 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "vauchflow_server"]
