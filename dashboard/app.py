"""The clickflow dashboard: `make dashboard` (streamlit run dashboard/app.py).

Nine pages over three sources: the serving REST API (predict, score a file, serving health),
the pipeline's ML Metadata store and run summaries (model history, run detail, compare runs,
model card, data) and the monitor's reports (monitoring).
Settings come from CLICKFLOW_* variables.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repository root that
# the `dashboard`, `models` and `pipelines` packages live in.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from dashboard.config import DashboardConfig, DashboardConfigError  # noqa: E402
from models.bootstrap import bootstrap  # noqa: E402
from pipelines.common import safe_parquet  # noqa: E402

bootstrap(autograph=False)  # reads TFMA results and ML Metadata; never trains
# Before any page runs: whatever reads Parquet in this process refuses pickled Arrow types
# (CVE-2023-47248; TFMA, for one, can read Parquet results).
safe_parquet.guard()

st.set_page_config(page_title="clickflow", page_icon=":material/ads_click:", layout="wide")
# The pages live in views/, not pages/: Streamlit lists a pages/ folder by file name in the
# sidebar on a direct visit to a page URL, before st.navigation has run. Each url_path is its
# file's name: AppTest.switch_page hashes the file name, st.navigation the url_path.
page = st.navigation([
    st.Page("views/predict.py", title="Predict", icon=":material/ads_click:", default=True),
    st.Page("views/score.py", title="Score a file", icon=":material/upload_file:",
            url_path="score"),
    st.Page("views/history.py", title="Model history", icon=":material/history:",
            url_path="history"),
    st.Page("views/run.py", title="Run detail", icon=":material/account_tree:", url_path="run"),
    st.Page("views/compare.py", title="Compare runs", icon=":material/compare_arrows:",
            url_path="compare"),
    st.Page("views/card.py", title="Model card", icon=":material/description:",
            url_path="card"),
    st.Page("views/data.py", title="Data", icon=":material/bar_chart:", url_path="data"),
    st.Page("views/health.py", title="Serving health", icon=":material/monitor_heart:",
            url_path="health"),
    st.Page("views/monitoring.py", title="Monitoring", icon=":material/monitoring:",
            url_path="monitoring"),
])
with st.sidebar:
    st.markdown("### clickflow")
    st.caption("Ad-click prediction: a TFX continuous-training template.")
    try:
        cfg = DashboardConfig.from_env()
        st.caption(f"Model server: `{cfg.serving_url}`  \nModel: `{cfg.model_name}`  \n"
                   f"Pipeline root: `{cfg.pipeline_root}`")
    except DashboardConfigError:
        st.caption(":red[Invalid settings: see the page.]")
page.run()
