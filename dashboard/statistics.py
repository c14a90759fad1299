"""TFDV statistics as Facets Overview shows them: per-feature summaries, overlays and distances.

Reads StatisticsGen's ``DatasetFeatureStatisticsList`` (``<uri>/Split-<split>/FeatureStats.pb``)
into plain values; everything past ``read_splits`` is a pure function, so the page only draws.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from pipelines.common.names import STATISTICS_FILE

SPLITS = ("train", "eval")
NUMERIC, BINARY, CATEGORICAL = "numeric", "binary", "categorical"
BINS = 20  # common bins of a numeric overlay: Facets Overview's charts have about as many


Bucket = tuple[float, float, float]


class StatisticsError(ValueError):
    """A statistics file that cannot be read; the message names the file."""


@dataclasses.dataclass(frozen=True)
class Feature:
    """One feature of one dataset (a split of a run), as Facets Overview's table row shows it."""

    name: str
    kind: str  # NUMERIC, BINARY (integers 0/1 only) or CATEGORICAL (strings)
    type: str  # the TFDV type: INT, FLOAT, STRING, BYTES
    examples: int  # examples in the dataset
    count: int  # examples with a value
    missing: int
    mean: float | None = None
    std: float | None = None
    zeros: float | None = None
    min: float | None = None
    median: float | None = None
    max: float | None = None
    unique: int | None = None
    # STANDARD and QUANTILES histogram buckets (low, high, count) of a numeric feature.
    buckets: tuple[Bucket, ...] = ()
    quantiles: tuple[Bucket, ...] = ()
    # Value -> count for binary and categorical features (all TFDV kept, most frequent first).
    values: tuple[tuple[str, float], ...] = ()

    @property
    def missing_share(self) -> float | None:
        total = self.count + self.missing
        return self.missing / total if total else None


def _name(feature: Any) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def _numeric(base: dict[str, Any], num: Any) -> Feature:
    values_total = num.common_stats.tot_num_values
    extra: dict[str, Any] = dict(mean=num.mean, std=num.std_dev, zeros=num.num_zeros,
                                 min=num.min, median=num.median, max=num.max)
    if base["count"] == 0:  # all missing: TFDV leaves mean, min and max at 0.0, not unknown
        extra = {}
    histograms = {h.type: tuple((b.low_value, b.high_value, b.sample_count) for b in h.buckets)
                  for h in num.histograms}
    buckets = histograms.get(num.histograms[0].STANDARD, ()) if num.histograms else ()
    extra["quantiles"] = histograms.get(num.histograms[0].QUANTILES, ()) if num.histograms \
        else ()
    if base["type"] == "INT" and base["count"] and num.min >= 0 and num.max <= 1:
        # Only 0 and 1 occur: the counts are exact (num_zeros and the rest), where the
        # STANDARD histogram spreads them over ten buckets between 0 and 1.
        ones = values_total - num.num_zeros
        return Feature(kind=BINARY, values=(("0", float(num.num_zeros)), ("1", float(ones))),
                       buckets=buckets, **base, **extra)
    return Feature(kind=NUMERIC, buckets=buckets, **base, **extra)


def _categorical(base: dict[str, Any], text: Any) -> Feature:
    # rank_histogram holds up to 1,000 values, top_values only 20 (num_rank_histogram_buckets
    # and num_top_values in tensorflow_data_validation/statistics/stats_options.py): the
    # longer list makes shares of rarer values comparable too.
    if text.rank_histogram.buckets:
        values = tuple((b.label, b.sample_count) for b in text.rank_histogram.buckets)
    else:
        values = tuple((v.value, v.frequency) for v in text.top_values)
    return Feature(kind=CATEGORICAL, unique=text.unique, values=values, **base)


def summarize(dataset: Any) -> dict[str, Feature]:
    """The features of one ``DatasetFeatureStatistics`` by name (struct features skipped)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    out = {}
    for feature in dataset.features:
        which = feature.WhichOneof("stats")
        if which not in ("num_stats", "string_stats"):
            continue
        stats = getattr(feature, which)
        common = stats.common_stats
        base = dict(name=_name(feature), examples=int(dataset.num_examples),
                    type=statistics_pb2.FeatureNameStatistics.Type.Name(feature.type),
                    count=int(common.num_non_missing), missing=int(common.num_missing))
        out[base["name"]] = (_numeric(base, stats) if which == "num_stats"
                             else _categorical(base, stats))
    return out


def read_splits(uri: str | Path) -> dict[str, dict[str, Feature]]:
    """Every split's features of a StatisticsGen artifact; a split without a file is left out."""
    from google.protobuf.message import DecodeError
    from tensorflow_metadata.proto.v0 import statistics_pb2

    out = {}
    for split in SPLITS:
        path = Path(uri) / f"Split-{split}" / STATISTICS_FILE
        if not path.is_file():
            continue
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        try:
            stats.ParseFromString(path.read_bytes())
        except (OSError, DecodeError) as err:
            raise StatisticsError(f"{path} is not a TFDV DatasetFeatureStatisticsList: {err}"
                                  ) from err
        out[split] = summarize(stats.datasets[0]) if stats.datasets else {}
    return out


def shares(feature: Feature) -> dict[str, float]:
    """Value -> share of the feature's values (what TFDV's L-infinity compares)."""
    total = sum(count for _, count in feature.values)
    return {value: count / total for value, count in feature.values} if total else {}


def boundaries(*histograms: tuple[Bucket, ...]) -> list[float]:
    """Every bucket boundary of the histograms: the bins TFDV re-buckets them onto."""
    return sorted({edge for h in histograms for low, high, _ in h for edge in (low, high)})


def edges(*histograms: tuple[Bucket, ...], bins: int = BINS) -> list[float]:
    """Equal-width bin edges over the histograms' whole range: the bins of an overlay chart."""
    lows = [h[0][0] for h in histograms if h]
    highs = [h[-1][1] for h in histograms if h]
    if not lows:
        return []
    low, high = min(lows), max(highs)
    if high <= low:
        return [low, low]
    return [low + (high - low) * i / bins for i in range(bins + 1)]


def rebin(histogram: tuple[Bucket, ...], grid: list[float]) -> list[float]:
    """Shares of the histogram's values in each bin of ``grid``.

    Each dataset's histograms have their own boundaries (its own min to max, its own
    quantiles), so two are only comparable on common bins. A bucket's count is spread evenly
    over its width, as TFDV assumes of a bucket when it computes Jensen-Shannon divergence; a
    zero-width bucket (one repeated value) falls in the bin that holds it.
    """
    out = [0.0] * max(len(grid) - 1, 1)
    total = sum(count for _, _, count in histogram)
    if not total or len(grid) < 2:
        return out if not total else [1.0]
    for low, high, count in histogram:
        for i in range(len(out)):
            left, right = grid[i], grid[i + 1]
            if high <= low:
                last = i == len(out) - 1
                inside = left <= low < right or (last and low == right)
                out[i] += count / total if inside else 0.0
            else:
                overlap = max(0.0, min(high, right) - max(low, left))
                out[i] += count / total * overlap / (high - low)
    return out


def jensen_shannon(p: list[float], q: list[float]) -> float:
    """Jensen-Shannon divergence (log base 2: 0 for equal, 1 for disjoint distributions)."""
    def kl(x: list[float], m: list[float]) -> float:
        return sum(xi * math.log2(xi / mi) for xi, mi in zip(x, m, strict=True) if xi > 0)

    m = [(pi + qi) / 2 for pi, qi in zip(p, q, strict=True)]
    return max(0.0, (kl(p, m) + kl(q, m)) / 2)


def l_infinity(p: dict[str, float], q: dict[str, float]) -> float:
    """The largest difference in any value's share (TFDV's ``infinity_norm`` comparator)."""
    return max((abs(p.get(v, 0.0) - q.get(v, 0.0)) for v in {*p, *q}), default=0.0)


def distance(a: Feature | None, b: Feature | None) -> tuple[float | None, str]:
    """How far apart two datasets' values of a feature are, and by which measure."""
    if a is None or b is None or not a.count or not b.count:
        return None, ""
    if NUMERIC in (a.kind, b.kind):
        # TFDV's jensen_shannon_divergence comparator: both STANDARD histograms re-bucketed
        # onto the union of their boundaries (statistics_test checks it gives TFDV's value).
        # Also for 0/1 on one side and other numbers on the other (a 500 in a 0/1 flag).
        grid = boundaries(a.buckets, b.buckets)
        return jensen_shannon(rebin(a.buckets, grid), rebin(b.buckets, grid)), "Jensen-Shannon"
    # TFDV's infinity_norm reads only string values (an INT feature scores 0.0 there); the
    # exact 0/1 counts of a binary feature compare the same way.
    return l_infinity(shares(a), shares(b)), "L-infinity"


def overlay(a: Feature | None, b: Feature | None, labels: tuple[str, str],
            top: int = 10) -> list[dict[str, Any]]:
    """Chart rows of a feature in two datasets, as shares so different sizes compare.

    Numeric: both on common equal-width bins (``low``, ``high``, ``share``), re-binned from
    the QUANTILES histogram: its ten equal-mass buckets are narrow where the values are, where
    a STANDARD bucket spans a tenth of min to max, so one outlier (an age of 500) squeezes
    every other value into its first bucket.
    Binary and categorical: the ``top`` values most frequent in either (``value``, ``share``).
    """
    present = [(f, label) for f, label in zip((a, b), labels, strict=True)
               if f is not None and f.count]
    if not present:
        return []
    if any(f.kind == NUMERIC for f, _ in present):
        source = [(f.quantiles or f.buckets, label) for f, label in present]
        grid = edges(*(h for h, _ in source))
        return [{"dataset": label, "low": grid[i], "high": grid[i + 1], "share": share}
                for h, label in source for i, share in enumerate(rebin(h, grid))
                if len(grid) > 1]
    of = {label: shares(f) for f, label in present}
    # The most frequent values of each dataset, half each: ranked together, a smaller
    # dataset's (larger) shares of near-unique values would leave the other with no bar.
    keys: list[str] = []
    for s in of.values():
        ranked = sorted(s, key=lambda v: (-s[v], v))
        keys += [v for v in ranked if v not in keys][:max(1, top // len(of))]
    if all(f.kind == BINARY for f, _ in present):
        keys.sort()  # 0 above 1, whichever is more frequent
    else:
        keys.sort(key=lambda v: (-max(s.get(v, 0.0) for s in of.values()), v))
    return [{"dataset": label, "value": v, "share": s.get(v, 0.0)}
            for label, s in of.items() for v in keys]


def table(a: dict[str, Feature], b: dict[str, Feature], labels: tuple[str, str]
          ) -> list[dict[str, Any]]:
    """Facets Overview's table of dataset ``a``, with each feature's distance to ``b``.

    The most changed features come first; one missing from a dataset comes after, with a note.
    """
    rows = []
    for name in sorted({*a, *b}):
        f, other = a.get(name), b.get(name)
        value, measure = distance(f, other)
        shown = f or other
        note = (f"only in {labels[0]}" if other is None else f"only in {labels[1]}"
                if f is None else "no values" if not (f.count and other.count) else "")
        top = shown.values[0] if shown.kind == CATEGORICAL and shown.values else (None, None)
        rows.append({
            "feature": name, "kind": shown.kind, "distance": value, "measure": measure,
            "note": note, "count": None if f is None else f.count,
            "missing %": None if f is None or f.missing_share is None
            else 100 * f.missing_share,
            "mean": f and f.mean, "std": f and f.std,
            "zeros %": 100 * f.zeros / f.count if f and f.zeros is not None and f.count
            else None,
            "min": f and f.min, "median": f and f.median, "max": f and f.max,
            "unique": f and f.unique, "top value": top[0] if f else None,
            "top frequency": top[1] if f else None,
        })
    return sorted(rows, key=lambda r: (r["distance"] is None, -(r["distance"] or 0.0),
                                       r["feature"]))
