"""Choosing a run on the history pages: one short outcome per run, and a linkable selection.

The selected run is kept in the page URL (``?run=<run id>``), so a run detail or a comparison
can be shared and reopened; a run id that is not in this pipeline root says so.
"""

from __future__ import annotations

import streamlit as st

from dashboard.history import RunRecord


def outcome(run: RunRecord) -> str:
    """"pushed 1796232949", "not blessed", "failed at AnomaliesGate", "running", ..."""
    if run.status == "failed":
        return f"failed at {run.failed_component}" if run.failed_component else "failed"
    if run.status in ("running", "abandoned"):
        return run.status
    if run.pushed_version:
        return f"pushed {run.pushed_version}"
    if run.blessed is False:
        return "not blessed"
    if run.blessed:
        return "blessed, not pushed"
    return "no evaluation"


def run_label(run: RunRecord) -> str:
    return f"{run.started:%Y-%m-%d %H:%M:%S} · {outcome(run)} · {run.run_id}"


def pick_run(runs: list[RunRecord], label: str = "Run", param: str = "run",
             default: int = 0) -> RunRecord:
    """A select box over ``runs`` (newest first) that reads and writes ``?<param>=``."""
    ids = [r.run_id for r in runs]
    wanted = st.query_params.get(param)
    if wanted and wanted not in ids:
        st.warning(f"Run `{wanted}` (from the link) is not in this pipeline root; showing "
                   f"{runs[min(default, len(runs) - 1)].run_id} instead.")
    index = ids.index(wanted) if wanted in ids else min(default, len(runs) - 1)
    run = st.selectbox(label, runs, index=index, format_func=run_label, key=f"pick_{param}")
    st.query_params[param] = run.run_id
    return run


def link_query(run: RunRecord) -> dict[str, str]:
    return {"run": run.run_id}


def page_link(page: str, label: str, icon: str, query: dict[str, str] | None = None) -> None:
    """``st.page_link`` to another page; a plain line when that page is not in this app's
    navigation (Streamlit raises StreamlitPageNotFoundError for it: streamlit/elements/
    widgets/button.py), so one missing page never breaks the page that links to it."""
    from streamlit.errors import StreamlitPageNotFoundError

    try:
        st.page_link(page, label=label, icon=icon, query_params=query)
    except StreamlitPageNotFoundError:
        st.caption(f"{label}: the page `{page}` is not part of this dashboard.")
