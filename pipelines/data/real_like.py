"""The generator's ``real-like`` mode: the traits of the public "advertising" data set.

The default mode draws City from a fixed list of 970 names and topic lines from a small word
grid, and its label depends on the numeric columns through a known logistic ground truth. Real
data of this schema looks different, and a model tuned on the default mode never sees it:

- ``City`` is near-unique (~970 distinct values in 1,000 rows) and ``AdTopicLine`` is unique
  per row; neither carries any signal, so an embedding or hashed words over them can only fit
  noise.
- ~240 countries, each seen a handful of times, with very little signal.
- The signal is in the numeric columns, strongly: the label is drawn first (half the rows
  click) and each numeric column is drawn from a per-class scaled beta distribution with the
  public data set's per-class mean and standard deviation, so a logistic regression on the
  five numeric columns scores an AUC near 0.99, as it does on the real data.

Rows are a pure function of the generator (one ``numpy.random.Generator`` per chunk, as the
default mode). The rows carry no known click probability, so they are written without the
generator's ground-truth marker (``spans.is_generated`` is false for them).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models import features
from pipelines.data import vocabulary as vocab

# Per-class (clicked, not clicked) mean and standard deviation of each numeric column in the
# public data set, and the column's range there (the draws are scaled beta, so bounded).
CLASS_MOMENTS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "DailyTimeSpentOnSite": ((53.15, 12.85), (76.85, 7.38)),
    "Age": ((40.33, 8.82), (31.68, 6.20)),
    "AreaIncome": ((48_614.0, 12_870.0), (61_385.0, 8_700.0)),
    "DailyInternetUsage": ((145.49, 24.60), (214.51, 21.39)),
}
RANGES: dict[str, tuple[float, float]] = {
    "DailyTimeSpentOnSite": (32.6, 91.43),
    "Age": (19, 61),
    "AreaIncome": (13_996.5, 79_484.8),
    "DailyInternetUsage": (104.78, 269.96),
}
MALE_SHARE = (0.462, 0.500)  # clicked, not clicked
CLICK_SHARE = 0.5
# Country popularity tilts by class by at most this factor: a little signal, as in the data.
COUNTRY_TILT = 0.15

_CITY_NAMES = pa.array(vocab.REAL_LIKE_CITIES, pa.string())
_ADJ = pa.array(vocab.TOPIC_ADJECTIVES, pa.string())
_BUZZ = pa.array(vocab.TOPIC_BUZZWORDS, pa.string())
_NOUN = pa.array(vocab.TOPIC_NOUNS, pa.string())
_COUNTRY = pa.array(vocab.COUNTRIES, pa.string())
_N_TOPICS = len(_ADJ) * len(_BUZZ) * len(_NOUN)


def _country_p(clicked: bool) -> np.ndarray:
    """Country probabilities given the class: uniform, tilted by a fixed +-COUNTRY_TILT."""
    sign = np.where((np.arange(len(vocab.COUNTRIES)) * 7919) % 2 == 0, 1.0, -1.0)
    p = np.exp((COUNTRY_TILT if clicked else -COUNTRY_TILT) * sign)
    return p / p.sum()


_COUNTRY_P = (_country_p(True), _country_p(False))


def beta_parameters(mean: float, sd: float, low: float, high: float) -> tuple[float, float]:
    """(a, b) of the beta distribution on [low, high] with this mean and standard deviation."""
    m = (mean - low) / (high - low)
    v = (sd / (high - low)) ** 2
    if not (0.0 < m < 1.0 and 0.0 < v < m * (1.0 - m)):
        raise ValueError(f"no beta distribution on [{low}, {high}] has mean {mean} and sd {sd}")
    common = m * (1.0 - m) / v - 1.0
    return m * common, (1.0 - m) * common


def _numeric(rng: np.random.Generator, clicked: np.ndarray, column: str) -> np.ndarray:
    low, high = RANGES[column]
    (a1, b1), (a0, b0) = (beta_parameters(m, s, low, high) for m, s in CLASS_MOMENTS[column])
    n = clicked.size
    unit = np.where(clicked, rng.beta(a1, b1, n), rng.beta(a0, b0, n))
    return low + (high - low) * unit


def chunk_columns(rng: np.random.Generator, n: int) -> dict[str, pa.Array]:
    """Every column but ``Timestamp`` of ``n`` real-like rows drawn from ``rng``."""
    clicked = rng.random(n) < CLICK_SHARE
    cols: dict[str, pa.Array] = {}
    for name in ("DailyTimeSpentOnSite", "AreaIncome", "DailyInternetUsage"):
        cols[name] = pa.array(np.round(_numeric(rng, clicked, name), 2))
    cols["Age"] = pa.array(np.clip(np.rint(_numeric(rng, clicked, "Age")),
                                   *RANGES["Age"]).astype(np.int64))
    cols["Male"] = pa.array(
        (rng.random(n) < np.where(clicked, *MALE_SHARE)).astype(np.int64))
    # One topic line per row: distinct word triples (with repeats only past _N_TOPICS rows).
    topic = rng.choice(_N_TOPICS, n, replace=n > _N_TOPICS)
    n_noun, n_buzz = len(_NOUN), len(_BUZZ)
    cols["AdTopicLine"] = pc.binary_join_element_wise(
        _ADJ.take(topic // (n_buzz * n_noun)), _BUZZ.take((topic // n_noun) % n_buzz),
        _NOUN.take(topic % n_noun), " ")
    cols["City"] = _CITY_NAMES.take(rng.integers(0, len(_CITY_NAMES), n))
    country = np.empty(n, np.int64)
    for value, p in ((True, _COUNTRY_P[0]), (False, _COUNTRY_P[1])):
        rows = clicked == value
        country[rows] = rng.choice(len(p), int(rows.sum()), p=p)
    cols["Country"] = _COUNTRY.take(country)
    cols[features.LABEL_KEY] = pa.array(clicked.astype(np.int64))
    return cols
