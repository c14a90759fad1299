"""Two runs side by side, as MLflow compares runs: metrics, verdicts, data, parameters and
feature statistics, with the difference (A - B) where there is one. Pure functions."""

from __future__ import annotations

from typing import Any

from dashboard import explain, run_metrics
from dashboard.history import RunRecord


def _diff(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) - float(b)
    return None


def metric_rows(a: RunRecord, b: RunRecord) -> list[dict[str, Any]]:
    """Every overall metric either run's candidate has."""
    ma, mb = run_metrics.overall(a), run_metrics.overall(b)
    names = list(ma) + [k for k in mb if k not in ma]
    return [{"metric": explain.label(k), "A": ma.get(k), "B": mb.get(k),
             "A - B": _diff(ma.get(k), mb.get(k))} for k in names]


def data_rows(a: RunRecord, b: RunRecord) -> list[dict[str, Any]]:
    """What each run read: spans, files, bytes, rows read and kept."""
    def fields(run: RunRecord) -> dict[str, Any]:
        data, rows = run.data or {}, (run.summary or {}).get("rows") or {}
        spans = data.get("spans") or []
        return {"spans": ", ".join(spans) if spans else None, "span count": len(spans) or None,
                "files": data.get("files"), "bytes": data.get("bytes"),
                "rows read": rows.get("read"), "rows kept": rows.get("kept"),
                "eval rows": ((run.summary or {}).get("evaluated_rows") or {}).get(
                    "eval_split")}
    fa, fb = fields(a), fields(b)
    return [{"field": k, "A": None if fa[k] is None else str(fa[k]),
             "B": None if fb[k] is None else str(fb[k]),
             "A - B": _diff(fa[k], fb[k])} for k in fa]


def param_rows(a: dict[str, str], b: dict[str, str], only_changed: bool = False
               ) -> list[dict[str, Any]]:
    """Parameters of both runs, the ones that differ first."""
    names = sorted(set(a) | set(b))
    rows = [{"parameter": k, "A": a.get(k), "B": b.get(k), "same": a.get(k) == b.get(k)}
            for k in names]
    rows.sort(key=lambda r: r["same"])
    return [r for r in rows if not r["same"]] if only_changed else rows


def stat_rows(a: list[dict[str, Any]], b: list[dict[str, Any]], split: str = "train"
              ) -> list[dict[str, Any]]:
    """Per numeric feature of one split: mean, std and missing of A and B, and mean A - B.

    ``a``/``b``: ``history.feature_statistics`` rows."""
    def numeric(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {r["feature"]: r for r in rows if r["split"] == split and "mean" in r}
    na, nb = numeric(a), numeric(b)
    out = []
    for feature in sorted(set(na) | set(nb)):
        ra, rb = na.get(feature, {}), nb.get(feature, {})
        out.append({"feature": feature, "mean A": ra.get("mean"), "mean B": rb.get("mean"),
                    "mean A - B": _diff(ra.get("mean"), rb.get("mean")),
                    "std A": ra.get("std_dev"), "std B": rb.get("std_dev"),
                    "missing A": ra.get("missing"), "missing B": rb.get("missing")})
    return out
