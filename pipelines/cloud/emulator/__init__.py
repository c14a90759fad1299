"""Runs a compiled KFP v2 pipeline spec on this machine, task by task, as the KFP v2 launcher and
Vertex AI Pipelines would: each task's own container command in a fresh process, fed the
``ExecutorInput`` JSON the launcher builds, with the image's code staged from the Dockerfile.

Only what cannot run here is substituted (Cloud Storage, Dataflow, BigQuery, the Vertex job
API, Model Registry), and every substitution is listed in the output.
``python -m pipelines.cloud.emulator --help`` explains the options.
"""
