# syntax=docker/dockerfile:1
# The monitor and ingestion CronJobs (deployment/base/monitor-cronjob.yaml, ingest-cronjob.yaml):
# the pipeline image (TFX, which kubeflow_runner.py submit compiles the retraining run with, and
# the BigQuery and Cloud Storage clients) plus the monitor, the ingestion command and the runner,
# which the pipeline image leaves out on purpose. Build it after the pipeline image, from it:
#   docker build -f deployment/jobs.Dockerfile --build-arg PIPELINE_IMAGE=REGISTRY/pipeline@sha256:... \
#     -t REGISTRY/jobs:TAG .
ARG PIPELINE_IMAGE
FROM ${PIPELINE_IMAGE}

WORKDIR /pipeline

# What the monitor imports beyond the pipeline's packages (pinned by constraints.txt).
COPY constraints.txt ./
RUN python -m pip install -c constraints.txt httpx && python -m pip check

# The monitor, the cloud commands, the metadata helpers and the data modules the monitor imports
# (drift presets, spans), and the runner the cloud trigger calls; models/, schema/ and the rest of
# the graph come with the pipeline image (deployment/manifests/images_test.py checks that every
# project module they import is in one or the other).
COPY pipelines/monitoring/ pipelines/monitoring/
COPY pipelines/cloud/ pipelines/cloud/
COPY pipelines/metadata/ pipelines/metadata/
COPY pipelines/data/ pipelines/data/
COPY kubeflow_runner.py ./

RUN python -c "import pipelines.monitoring.__main__, pipelines.cloud.ingest_cli, \
pipelines.cloud.ingest, pipelines.monitoring.trigger; import kubeflow_runner; print('jobs import')"

# The CronJobs run as uid 1000 (runAsNonRoot); the command is theirs, not Beam's boot.
USER 1000:1000
ENTRYPOINT []
CMD ["python", "-m", "pipelines.monitoring", "--help"]
