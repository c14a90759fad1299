# syntax=docker/dockerfile:1
# The clickflow dashboard (Streamlit), as deployed by deployment/base/dashboard-deployment.yaml.
# Build from the repository root:
#   docker build -f deployment/dashboard.Dockerfile -t REGISTRY/dashboard:TAG .
# (BuildKit reads deployment/dashboard.Dockerfile.dockerignore: only the copied folders are sent.)
# The base image is pinned by tag (the Python of .venv, 3.10.13); pin it by digest in your
# registry mirror if your policy requires it.
FROM python:3.10.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_USE_LEGACY_KERAS=1 \
    HOME=/tmp

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. The dashboard's requirements are
# pinned and constrained by the repository's constraints.txt (same versions as make setup).
COPY constraints.txt ./
COPY dashboard/requirements.txt dashboard/requirements.txt
RUN pip install --no-compile -r dashboard/requirements.txt

# Only the code the dashboard imports: the app, the feature definitions and the schema it builds
# its form from, and the pipeline helpers that read run summaries and metadata.
COPY dashboard/ dashboard/
COPY models/ models/
COPY pipelines/ pipelines/
COPY schema/ schema/

# A fixed numeric user, so Kubernetes can verify runAsNonRoot (runAsUser 10001 in the Deployment).
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid 10001 --no-create-home \
      --shell /usr/sbin/nologin app
USER 10001:10001

EXPOSE 8501
CMD ["streamlit", "run", "dashboard/app.py", "--server.port", "8501", "--server.address", "0.0.0.0", \
     "--server.headless", "true", "--browser.gatherUsageStats", "false", \
     "--server.maxUploadSize", "50"]
