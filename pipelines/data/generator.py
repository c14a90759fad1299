"""Deterministic synthetic ad-click data with a known ground truth, written as spans or CSV.

Features are drawn from two latent user segments (heavy / light users), which gives realistic,
correlated marginals like the public "advertising" data set. The label is then drawn from
``click_probability``, a function of the observed columns only, so the Bayes-optimal score and
its AUC are known exactly. Drifted traffic is in ``pipelines.data.drift``, span storage in
``pipelines.data.spans``, the command line in ``pipelines.data.__main__``.

``mode="real-like"`` draws rows with the public data's traits instead (near-unique cities and
topic lines, signal only in the numeric columns; ``pipelines.data.real_like``), written
without the ground-truth marker since their click probability is not this module's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from models import features
from pipelines.common.metrics import roc_auc
from pipelines.data import real_like, spans
from pipelines.data.spans import check_int
from pipelines.data.vocabulary import (
    CITIES,
    COUNTRIES,
    TOPIC_ADJECTIVES,
    TOPIC_BUZZWORDS,
    TOPIC_NOUNS,
)

# The raw example columns, marked as having a known ground truth (see spans.is_generated).
SCHEMA = spans.EXAMPLES_SCHEMA.with_metadata({spans.GENERATOR_METADATA_KEY: b"1"})
DEFAULT_MODE = "default"
REAL_LIKE_MODE = "real-like"
MODES = (DEFAULT_MODE, REAL_LIKE_MODE)
FIRST_SPAN_DAY = datetime(2016, 1, 1)
DEFAULT_CHUNK_ROWS = 100_000

# Clip ranges of the numeric features (inclusive).
RANGES: dict[str, tuple[float, float]] = {
    "DailyTimeSpentOnSite": (30.0, 92.0),
    "Age": (19, 61),
    "AreaIncome": (14_000.0, 80_000.0),
    "DailyInternetUsage": (100.0, 270.0),
}

# Fixed population moments (of the public data set) used to standardize features in the logit.
MEANS = {
    "DailyTimeSpentOnSite": 65.0,
    "Age": 36.0,
    "AreaIncome": 55_000.0,
    "DailyInternetUsage": 180.0,
}
STDS = {
    "DailyTimeSpentOnSite": 15.85,
    "Age": 8.79,
    "AreaIncome": 13_414.0,
    "DailyInternetUsage": 43.9,
}

# Ground truth: logit = INTERCEPT + sum(coef * z(feature)) + MALE_COEF * (Male - 0.5).
INTERCEPT = 0.25
COEFFICIENTS = {
    "DailyTimeSpentOnSite": -1.5,
    "Age": 1.0,
    "AreaIncome": -0.8,
    "DailyInternetUsage": -1.5,
}
MALE_COEF = 0.2

# Mildly non-uniform country popularity, fixed by arithmetic so every run uses the same one.
_COUNTRY_P = 1.0 + 0.6 * ((np.arange(len(COUNTRIES)) * 7919) % 11) / 10.0
_COUNTRY_P /= _COUNTRY_P.sum()

_COUNTRY_ARR = pa.array(COUNTRIES, pa.string())
_CITY_ARR = pa.array(CITIES, pa.string())
_ADJ_ARR = pa.array(TOPIC_ADJECTIVES, pa.string())
_BUZZ_ARR = pa.array(TOPIC_BUZZWORDS, pa.string())
_NOUN_ARR = pa.array(TOPIC_NOUNS, pa.string())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def click_logit(
    batch: Mapping[str, np.ndarray],
    *,
    intercept: float = INTERCEPT,
    coefficients: Mapping[str, float] = COEFFICIENTS,
) -> np.ndarray:
    """True log-odds of a click, from the observed numeric columns of ``batch``.

    ``intercept`` and ``coefficients`` (one per name of COEFFICIENTS) are the ground truth's
    unless a changed click mechanism (``pipelines.data.drift``) passes its own.
    """
    logit = intercept + MALE_COEF * (np.asarray(batch["Male"], dtype=np.float64) - 0.5)
    for name in COEFFICIENTS:
        z = (np.asarray(batch[name], dtype=np.float64) - MEANS[name]) / STDS[name]
        logit = logit + coefficients[name] * z
    return logit


def click_probability(
    batch: Mapping[str, np.ndarray],
    *,
    intercept: float = INTERCEPT,
    coefficients: Mapping[str, float] = COEFFICIENTS,
) -> np.ndarray:
    """True P(ClickedOnAd = 1) for each row of ``batch`` (a mapping of column name to values)."""
    return _sigmoid(click_logit(batch, intercept=intercept, coefficients=coefficients))


def best_possible_auc(batch: Mapping[str, np.ndarray]) -> float:
    """AUC of the Bayes-optimal score (the true click probability) on ``batch``."""
    return roc_auc(np.asarray(batch[features.LABEL_KEY]), click_probability(batch))


def _scaled_beta(
    rng: np.random.Generator,
    heavy: np.ndarray,
    heavy_ab: tuple[float, float],
    light_ab: tuple[float, float],
    column: str,
) -> np.ndarray:
    """Beta draws (parameters by segment) scaled onto the range of ``column``."""
    low, high = RANGES[column]
    n = heavy.size
    unit = np.where(heavy, rng.beta(*heavy_ab, n), rng.beta(*light_ab, n))
    return low + (high - low) * unit


def _gen_chunk(
    rng: np.random.Generator, n: int, start: np.datetime64, n_seconds: int
) -> pa.RecordBatch:
    """One chunk of ``n`` rows drawn from ``rng``."""
    heavy = rng.random(n) < 0.5  # latent segment: heavy vs light internet users
    # Scaled beta draws: bounded like the real columns, with the real per-class means and spreads.
    time_on_site = _scaled_beta(rng, heavy, (7.8, 2.7), (2.1, 3.3), "DailyTimeSpentOnSite")
    internet = _scaled_beta(rng, heavy, (6.2, 3.2), (1.6, 4.0), "DailyInternetUsage")
    age = _scaled_beta(rng, heavy, (2.6, 5.9), (2.5, 2.5), "Age")
    income = _scaled_beta(rng, heavy, (7.0, 2.6), (2.4, 2.2), "AreaIncome")
    cols: dict[str, np.ndarray] = {
        "DailyTimeSpentOnSite": np.round(np.clip(time_on_site, *RANGES["DailyTimeSpentOnSite"]), 2),
        "Age": np.clip(np.rint(age), *RANGES["Age"]).astype(np.int64),
        "AreaIncome": np.round(np.clip(income, *RANGES["AreaIncome"]), 2),
        "DailyInternetUsage": np.round(np.clip(internet, *RANGES["DailyInternetUsage"]), 2),
        "Male": (rng.random(n) < 0.48).astype(np.int64),
    }
    label = (rng.random(n) < click_probability(cols)).astype(np.int64)
    topic = pc.binary_join_element_wise(
        _ADJ_ARR.take(rng.integers(0, len(_ADJ_ARR), n)),
        _BUZZ_ARR.take(rng.integers(0, len(_BUZZ_ARR), n)),
        _NOUN_ARR.take(rng.integers(0, len(_NOUN_ARR), n)),
        " ",
    )
    city = _CITY_ARR.take(rng.integers(0, len(_CITY_ARR), n))
    country = _COUNTRY_ARR.take(rng.choice(len(COUNTRIES), n, p=_COUNTRY_P))
    stamps = start + rng.integers(0, n_seconds, n).astype("timedelta64[s]")
    iso = pa.array(np.datetime_as_string(stamps, unit="s"), pa.string())
    timestamp = pc.replace_substring(iso, "T", " ", max_replacements=1)
    arrays = {
        **{k: pa.array(v) for k, v in cols.items()},
        "AdTopicLine": topic,
        "City": city,
        "Country": country,
        "Timestamp": timestamp,
        features.LABEL_KEY: pa.array(label),
    }
    return pa.RecordBatch.from_arrays([arrays[c] for c in SCHEMA.names], schema=SCHEMA)


def _timestamps(rng: np.random.Generator, n: int, start: np.datetime64,
                n_seconds: int) -> pa.Array:
    stamps = start + rng.integers(0, n_seconds, n).astype("timedelta64[s]")
    iso = pa.array(np.datetime_as_string(stamps, unit="s"), pa.string())
    return pc.replace_substring(iso, "T", " ", max_replacements=1)


def _real_like_chunk(
    rng: np.random.Generator, n: int, start: np.datetime64, n_seconds: int
) -> pa.RecordBatch:
    """One chunk of ``n`` real-like rows (``pipelines.data.real_like``) drawn from ``rng``."""
    arrays = real_like.chunk_columns(rng, n)
    arrays["Timestamp"] = _timestamps(rng, n, start, n_seconds)
    schema = schema_of(REAL_LIKE_MODE)
    return pa.RecordBatch.from_arrays([arrays[c] for c in schema.names], schema=schema)


def schema_of(mode: str) -> pa.Schema:
    """The Arrow schema a mode writes: the default mode's carries the ground-truth marker."""
    check_mode(mode)
    return SCHEMA if mode == DEFAULT_MODE else spans.EXAMPLES_SCHEMA


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")


def generate_batches(
    rows: int,
    seed: int,
    *,
    start: datetime,
    days: float = 1.0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    mode: str = DEFAULT_MODE,
) -> Iterator[pa.RecordBatch]:
    """Yield ``rows`` synthetic rows in batches of ``chunk_rows``; timestamps in [start, +days).

    Chunk ``i`` uses its own stream ``SeedSequence(seed, spawn_key=(i,))``, so the output is
    fully determined by the arguments. ``mode`` is one of MODES.
    """
    check_mode(mode)
    check_int("rows", rows, 1)
    check_int("seed", seed, 0)
    check_int("chunk_rows", chunk_rows, 1)
    if start.tzinfo is not None or start.microsecond:
        raise ValueError(f"start must be a naive datetime in whole seconds, got {start!r}")
    n_seconds = int(days * 86_400)
    if not n_seconds >= 1:
        raise ValueError(f"days must cover at least one second, got {days!r}")
    start64 = np.datetime64(start.replace(tzinfo=None), "s")
    chunk = _gen_chunk if mode == DEFAULT_MODE else _real_like_chunk
    for index, offset in enumerate(range(0, rows, chunk_rows)):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))
        yield chunk(rng, min(chunk_rows, rows - offset), start64, n_seconds)


def span_seed(seed: int, span: int) -> int:
    """The generator seed of span ``span``: derived from (seed, span), different per span."""
    check_int("seed", seed, 0)
    return int(np.random.SeedSequence([seed, span]).generate_state(1, np.uint64)[0])


def span_start(span: int) -> datetime:
    """Start of the day that generated span ``span`` covers (span 1 is 2016-01-01)."""
    return FIRST_SPAN_DAY + timedelta(days=span - 1)


def write_span(
    data_dir: str | os.PathLike[str],
    span: int,
    rows: int,
    seed: int,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    rows_per_file: int = spans.ROWS_PER_FILE,
    mode: str = DEFAULT_MODE,
) -> Path:
    """Atomically write ``rows`` generated rows as span ``span`` (default mode: marked as
    generated)."""
    check_int("rows", rows, 1)
    check_int("chunk_rows", chunk_rows, 1)
    batches = generate_batches(
        rows, span_seed(seed, span), start=span_start(span), chunk_rows=chunk_rows, mode=mode
    )
    return spans.write_span_batches(data_dir, span, batches, schema=schema_of(mode),
                                    rows_per_file=rows_per_file)


def append_span(
    data_dir: str | os.PathLike[str],
    rows: int,
    seed: int,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    rows_per_file: int = spans.ROWS_PER_FILE,
    mode: str = DEFAULT_MODE,
) -> tuple[int, Path]:
    """Write the next span (one after the highest existing, 1 when none); return (span, path)."""
    span = spans.next_span(data_dir)
    path = write_span(
        data_dir, span, rows, seed, chunk_rows=chunk_rows, rows_per_file=rows_per_file,
        mode=mode,
    )
    return span, path


def write_csv(
    path: str | os.PathLike[str],
    rows: int,
    seed: int,
    *,
    start: datetime = FIRST_SPAN_DAY,
    days: float = 1.0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    mode: str = DEFAULT_MODE,
) -> Path:
    """Write ``generate_batches(rows, seed, ...)`` as one CSV file (header = RAW_COLUMNS)."""
    out = Path(path)
    batches = generate_batches(rows, seed, start=start, days=days, chunk_rows=chunk_rows,
                               mode=mode)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with pacsv.CSVWriter(tmp, schema_of(mode)) as writer:
            for batch in batches:
                writer.write_batch(batch)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


# Until pipelines/demo imports them from pipelines.data.drift: the names the demo reads here.
if __name__ == "__main__":
    raise SystemExit("the command line moved: python -m pipelines.data append|csv --help")
