# syntax=docker/dockerfile:1
# The request-logging proxy: our server in proxy mode (python -m deployment.server --proxy-rest ...),
# the sidecar in front of TF Serving in deployment/base/serving-deployment.yaml. It loads no model:
# TensorFlow is here for the gRPC protos and tensors it reads to log a prediction.
# Build from the repository root:
#   docker build -f deployment/server.Dockerfile -t REGISTRY/server:TAG .
# (BuildKit reads deployment/server.Dockerfile.dockerignore: only the copied folders are sent.)
FROM python:3.10.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=3 \
    HOME=/tmp

WORKDIR /app

# The same pinned versions as make setup (constraints.txt), only what the server imports.
COPY constraints.txt ./
COPY deployment/server.requirements.txt deployment/
RUN pip install --no-compile -r deployment/server.requirements.txt && python -m pip check

# Only the server and the shared pieces it imports (deployment/manifests/images_test.py checks
# that every project module the server imports is copied).
COPY deployment/__init__.py deployment/
COPY deployment/server/ deployment/server/
COPY models/ models/
COPY pipelines/__init__.py pipelines/
COPY pipelines/common/ pipelines/common/

# Fail the build, not the pod, when a module the proxy imports is missing.
RUN python -c "import deployment.server.__main__, deployment.server.proxy; print('proxy imports')"

# A fixed numeric user, like the serving pod's (runAsUser 1000).
RUN groupadd --gid 1000 app && useradd --uid 1000 --gid 1000 --no-create-home \
      --shell /usr/sbin/nologin app
USER 1000:1000

EXPOSE 8500 8501
ENTRYPOINT ["python", "-m", "deployment.server"]
