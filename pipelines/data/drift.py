"""Drifted traffic: what the live system sees after the world changed.

Applied on top of the normal generator (``pipelines.data.generator``), so the same seed gives the
same rows before the drift is applied. Covariate shift moves the features; concept shift changes
the click mechanism, so the generator's ground truth no longer holds for the drifted labels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models import features
from pipelines.data import generator, spans
from pipelines.data.generator import COEFFICIENTS, DEFAULT_CHUNK_ROWS, INTERCEPT
from pipelines.data.vocabulary import COUNTRIES

# No ground-truth marker: the labels no longer follow generator.click_probability.
DRIFTED_SCHEMA = spans.EXAMPLES_SCHEMA


@dataclasses.dataclass(frozen=True)
class Drift:
    """How drifted traffic differs from the training distribution.

    Covariate shift: ``age_shift`` years added to Age, DailyTimeSpentOnSite multiplied by
    ``time_on_site_scale``, ``male_fraction`` of the users male (None keeps the 0.48),
    ``country_focus`` of the rows moved to ``focus_countries``. Concept shift: the click
    mechanism uses ``coefficients`` (name -> coefficient of its z-score, missing names keep
    COEFFICIENTS) and ``intercept``.
    """

    age_shift: float = 0.0
    time_on_site_scale: float = 1.0
    male_fraction: float | None = None
    country_focus: float = 0.0
    focus_countries: tuple[str, ...] = ("United States of America", "India", "Brazil")
    coefficients: Mapping[str, float] = dataclasses.field(default_factory=dict)
    intercept: float = INTERCEPT

    def __post_init__(self) -> None:
        if not 0.0 < self.time_on_site_scale <= 10.0:
            raise ValueError(
                f"time_on_site_scale must be in (0, 10], got {self.time_on_site_scale!r}")
        if self.male_fraction is not None and not 0.0 <= self.male_fraction <= 1.0:
            raise ValueError(f"male_fraction must be in [0, 1], got {self.male_fraction!r}")
        if not 0.0 <= self.country_focus <= 1.0:
            raise ValueError(f"country_focus must be in [0, 1], got {self.country_focus!r}")
        if not abs(self.age_shift) <= 40:
            raise ValueError(f"age_shift must be within +-40 years, got {self.age_shift!r}")
        unknown = sorted(set(self.focus_countries) - set(COUNTRIES))
        if unknown or not self.focus_countries:
            raise ValueError(f"focus_countries must be non-empty names from COUNTRIES, got "
                             f"unknown {unknown}")
        bad = sorted(set(self.coefficients) - set(COEFFICIENTS))
        if bad:
            raise ValueError(f"coefficients: unknown feature(s) {bad}; expected some of "
                             f"{sorted(COEFFICIENTS)}")


# Named drifts for demos and tests: the features move, the click mechanism changes, or both.
DRIFT_PRESETS: dict[str, Drift] = {
    "none": Drift(),
    "covariate": Drift(age_shift=8.0, time_on_site_scale=0.8, male_fraction=0.7,
                       country_focus=0.3),
    "concept": Drift(coefficients={"DailyTimeSpentOnSite": 1.0, "Age": -1.0,
                                   "DailyInternetUsage": -0.5}),
}
DRIFT_PRESETS["both"] = dataclasses.replace(
    DRIFT_PRESETS["covariate"], coefficients=DRIFT_PRESETS["concept"].coefficients)


def drifted_click_probability(batch: Mapping[str, np.ndarray], drift: Drift) -> np.ndarray:
    """P(ClickedOnAd = 1) under the (possibly changed) click mechanism of ``drift``."""
    return generator.click_probability(batch, intercept=drift.intercept,
                                       coefficients={**COEFFICIENTS, **drift.coefficients})


def apply_drift(batch: pa.RecordBatch, drift: Drift, rng: np.random.Generator) -> pa.RecordBatch:
    """``batch`` with its features shifted and its labels redrawn as ``drift`` says."""
    n = batch.num_rows
    cols = {name: batch.column(name) for name in batch.schema.names}
    numeric = {name: cols[name].to_numpy() for name in (*COEFFICIENTS, "Male")}
    age = np.clip(np.rint(numeric["Age"] + drift.age_shift), 18, 100).astype(np.int64)
    time_on_site = np.round(np.clip(numeric["DailyTimeSpentOnSite"] * drift.time_on_site_scale,
                                    1.0, 1440.0), 2)
    male = numeric["Male"]
    if drift.male_fraction is not None:
        male = (rng.random(n) < drift.male_fraction).astype(np.int64)
    numeric.update({"Age": age, "DailyTimeSpentOnSite": time_on_site, "Male": male})
    country = cols["Country"]
    if drift.country_focus > 0:
        moved = rng.random(n) < drift.country_focus
        focus = pa.array(drift.focus_countries, pa.string())
        picked = focus.take(rng.integers(0, len(focus), n))
        country = pc.if_else(pa.array(moved), picked, country)
    label = (rng.random(n) < drifted_click_probability(numeric, drift)).astype(np.int64)
    arrays = {
        **cols,
        **{name: pa.array(values) for name, values in numeric.items()},
        "Country": country,
        features.LABEL_KEY: pa.array(label),
    }
    return pa.RecordBatch.from_arrays([arrays[c] for c in DRIFTED_SCHEMA.names],
                                      schema=DRIFTED_SCHEMA)


def generate_drifted_batches(rows: int, seed: int, drift: Drift, *, start: datetime,
                             days: float = 1.0, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                             ) -> Iterator[pa.RecordBatch]:
    """``generate_batches(rows, seed, ...)`` with ``drift`` applied (deterministic per seed)."""
    batches = generator.generate_batches(rows, seed, start=start, days=days, chunk_rows=chunk_rows)
    for index, batch in enumerate(batches):
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index, 1))))
        yield apply_drift(batch, drift, rng)
