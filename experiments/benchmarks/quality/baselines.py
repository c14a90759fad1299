"""The simple models a data scientist would try first, fitted on the pipeline's train split.

- ``logistic``: scikit-learn's LogisticRegression on the five numeric columns, standardized.
- ``boosting``: HistGradientBoostingClassifier on every column: the numeric ones as they are,
  Timestamp as hour and weekday, City, Country and AdTopicLine as native categoricals (the
  most frequent values seen at least twice in train; every other value is one "other" code,
  since the model takes at most 255 categories per column).

Both are seeded, so a rerun on the same split gives the same scores. Columns are name -> numpy
array, as ``pipelines.metadata.runs.eval_examples`` reads them from a split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

import numpy as np

from models import features

NUMERIC = ("DailyTimeSpentOnSite", "Age", "AreaIncome", "DailyInternetUsage", "Male")
CATEGORICAL = ("City", "Country", "AdTopicLine")
MAX_CATEGORIES = 254  # HistGradientBoosting's limit (255 bins) less the "other" code
MIN_COUNT = 2
SEED = 0

Columns = Mapping[str, np.ndarray]
Predict = Callable[[Columns], np.ndarray]


def labels(columns: Columns) -> np.ndarray:
    return np.asarray(columns[features.LABEL_KEY]).astype(np.int64)


def numeric_matrix(columns: Columns) -> np.ndarray:
    missing = [c for c in NUMERIC if c not in columns]
    if missing:
        raise ValueError(f"the split has no column {missing}")
    return np.column_stack([np.asarray(columns[c], dtype=np.float64) for c in NUMERIC])


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def time_parts(stamps: np.ndarray) -> np.ndarray:
    """(hour, weekday) of each ``YYYY-MM-DD HH:MM:SS`` timestamp."""
    parsed = [datetime.strptime(_text(s), features.TIMESTAMP_FORMAT) for s in stamps]
    return np.array([(t.hour, t.weekday()) for t in parsed], dtype=np.float64).reshape(-1, 2)


class CategoryCodes:
    """Ordinal codes of the most frequent values of a train column; the rest share one code."""

    def __init__(self, values: np.ndarray, max_categories: int = MAX_CATEGORIES,
                 min_count: int = MIN_COUNT):
        counts = Counter(_text(v) for v in values)
        kept = [v for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                if n >= min_count][:max_categories]
        self.codes = {v: i for i, v in enumerate(kept)}
        self.other = len(kept)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return np.array([self.codes.get(_text(v), self.other) for v in values], np.float64)


def fit_logistic(train: Columns) -> Predict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000,
                                                               random_state=SEED))
    model.fit(numeric_matrix(train), labels(train))
    return lambda columns: model.predict_proba(numeric_matrix(columns))[:, 1]


def fit_boosting(train: Columns) -> Predict:
    from sklearn.ensemble import HistGradientBoostingClassifier

    encoders = {c: CategoryCodes(train[c]) for c in CATEGORICAL}

    def matrix(columns: Columns) -> np.ndarray:
        return np.column_stack([numeric_matrix(columns),
                                time_parts(columns[features.TIMESTAMP_FEATURE]),
                                *(encoders[c](columns[c]) for c in CATEGORICAL)])

    categorical = [False] * (len(NUMERIC) + 2) + [True] * len(CATEGORICAL)
    model = HistGradientBoostingClassifier(categorical_features=categorical,
                                           random_state=SEED)
    model.fit(matrix(train), labels(train))
    return lambda columns: model.predict_proba(matrix(columns))[:, 1]


BASELINES: dict[str, Callable[[Columns], Predict]] = {
    "logistic (5 numeric)": fit_logistic,
    "boosting (all columns)": fit_boosting,
}
