"""Pieces every page shares: settings, banners for what is down or missing, cached loads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import blessing, history, schema_form
from dashboard import evaluation as evaluation_lib
from dashboard.config import (
    ENV_PIPELINE_ROOT,
    ENV_SERVING_URL,
    DashboardConfig,
    DashboardConfigError,
)
from dashboard.serving_client import ServerUnavailable, ServingClient, ServingError


def config() -> DashboardConfig:
    """The settings from the environment; a readable error (and nothing else) when invalid."""
    try:
        return DashboardConfig.from_env()
    except DashboardConfigError as err:
        st.error(f"The dashboard's settings are invalid: {err}")
        st.stop()


def client(cfg: DashboardConfig) -> ServingClient:
    return ServingClient(cfg.serving_url, cfg.model_name)


def serving_problem(cfg: DashboardConfig, err: ServingError) -> None:
    """A banner saying what is wrong with the model server and what to do about it."""
    if isinstance(err, ServerUnavailable):
        st.error(
            f"**The model server is not reachable at {cfg.serving_url}.**\n\n"
            f"Start the local server with `make serve` (it serves the newest pushed "
            f"model of `make run`), or point the dashboard at another server with "
            f"`{ENV_SERVING_URL}=http://host:8501 make dashboard`.\n\nDetails: {err}",
            icon=":material/power_off:")
    else:
        st.error(f"**The model server at {cfg.serving_url} cannot serve model "
                 f"'{cfg.model_name}'.**\n\n{err}", icon=":material/warning:")


def serving_version(cfg: DashboardConfig) -> int:
    """The version the server answers with; a banner and a stopped page when it cannot."""
    try:
        with client(cfg) as c:
            return c.serving_version()
    except ServingError as err:
        serving_problem(cfg, err)
        st.stop()


def version_badge(version: int) -> None:
    st.badge(f"model version {version}", icon=":material/verified:", color="green")


def no_runs(cfg: DashboardConfig, reason: str) -> None:
    st.info(f"**No pipeline runs yet** ({reason}).\n\nRun the pipeline with `make run`; its "
            f"runs appear here. A different pipeline root is read with "
            f"`{ENV_PIPELINE_ROOT}=path/to/pipeline_root make dashboard`.",
            icon=":material/folder_open:")


def runs_or_stop(cfg: DashboardConfig) -> list[history.RunRecord]:
    """Every run, newest first; with none (or no store), the "No pipeline runs yet" banner and
    a stopped page."""
    try:
        found = runs(cfg)
    except history.HistoryUnavailable as err:
        no_runs(cfg, str(err))
        st.stop()
    if not found:
        no_runs(cfg, f"the metadata store has no run of pipeline '{cfg.pipeline_name}'")
        st.stop()
    return found


def _mtime(path: str | Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


@st.cache_data(show_spinner=False)
def _form_fields(path: str, mtime: int) -> list[schema_form.FieldSpec]:
    return schema_form.form_fields(schema_form.load_schema(Path(path)))


def form_fields(path: Path = schema_form.SCHEMA_FILE) -> list[schema_form.FieldSpec]:
    """The schema's fields, cached until the schema file changes; a banner if it is unusable."""
    try:
        return _form_fields(str(path), _mtime(path))
    except schema_form.SchemaError as err:
        st.error(f"The schema cannot be used: {err}")
        st.stop()


@st.cache_data(show_spinner="Reading ML Metadata ...")
def _runs(metadata_path: str, mtime: int, pipeline_name: str) -> list[history.RunRecord]:
    return history.list_runs(Path(metadata_path), pipeline_name)


def runs(cfg: DashboardConfig) -> list[history.RunRecord]:
    """Every run, re-read whenever the metadata store changes."""
    path = cfg.metadata_path
    # SQLite may write a journal beside the file before the file itself changes.
    stamp = max(_mtime(path), _mtime(f"{path}-journal"), _mtime(f"{path}-wal"))
    return _runs(str(path), stamp, cfg.pipeline_name)


# Artifacts are written once and never changed, so their URI is their cache key; the folder's
# mtime guards against a pipeline root that was deleted and rebuilt.
@st.cache_data(show_spinner=False)
def eval_config(uri: str, mtime: int) -> dict[str, Any]:
    """The Evaluator's config (thresholds, models); raises blessing.EvalConfigError."""
    return blessing.read_eval_config(uri)


@st.cache_data(show_spinner="Loading the evaluation (TFMA) ...")
def evaluation(uri: str, mtime: int) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The candidate's overall and per-slice metrics, read with TFMA (the Monitoring page's
    fallback for a run without a summary)."""
    return evaluation_lib.metrics(uri)


@st.cache_data(show_spinner="Loading the evaluation (TFMA) ...")
def tfma_metrics(uri: str, mtime: int
                 ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]] | None]:
    """(candidate, baseline) slice -> metric -> value, read with TFMA (the slow path)."""
    overall, sliced = evaluation_lib.metrics(uri)
    base = evaluation_lib.baseline_metrics(uri)
    return ({blessing.OVERALL: overall, **sliced},
            None if base is None else {blessing.OVERALL: base[0], **base[1]})


@st.cache_data(show_spinner="Loading ROC and PR curves (TFMA) ...")
def curves(uri: str, mtime: int) -> list[dict[str, Any]]:
    return evaluation_lib.curves(uri)


@st.cache_data(show_spinner=False)
def statistics(uri: str, mtime: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return history.feature_statistics(uri), history.numeric_histograms(uri)


@st.cache_data(show_spinner=False)
def anomalies(uri: str, mtime: int) -> list[dict[str, Any]]:
    return history.anomalies(uri)


def mtime(path: str | Path) -> int:
    return _mtime(path)
