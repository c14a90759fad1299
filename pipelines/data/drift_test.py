"""Drifted traffic on top of the generator: covariate and concept shift."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pytest

from models import features
from pipelines.common.metrics import roc_auc
from pipelines.data import drift as dd
from pipelines.data import generator as dg
from pipelines.data import spans
from pipelines.data.vocabulary import COUNTRIES

START = datetime(2016, 1, 1)


def _table(rows: int, seed: int, drift: dd.Drift | None) -> pa.Table:
    if drift is None:
        return pa.Table.from_batches(list(dg.generate_batches(rows, seed, start=START)))
    return pa.Table.from_batches(list(dd.generate_drifted_batches(rows, seed, drift,
                                                                  start=START)))


def test_drifted_batches_are_deterministic_and_keep_the_schema() -> None:
    drift = dd.DRIFT_PRESETS["both"]
    a, b = _table(3000, 4, drift), _table(3000, 4, drift)
    assert a.equals(b)
    assert a.schema.equals(dd.DRIFTED_SCHEMA) and a.schema.metadata is None
    assert dd.DRIFTED_SCHEMA.equals(spans.EXAMPLES_SCHEMA, check_metadata=True)
    assert tuple(a.column_names) == features.RAW_COLUMNS


def test_covariate_drift_moves_the_features() -> None:
    base = _table(20_000, 1, None)
    drifted = _table(20_000, 1, dd.DRIFT_PRESETS["covariate"])
    age_shift = drifted["Age"].to_numpy().mean() - base["Age"].to_numpy().mean()
    assert age_shift == pytest.approx(8.0, abs=0.2)
    ratio = drifted["DailyTimeSpentOnSite"].to_numpy().mean() / base[
        "DailyTimeSpentOnSite"].to_numpy().mean()
    assert ratio == pytest.approx(0.8, abs=0.01)
    assert drifted["Male"].to_numpy().mean() == pytest.approx(0.7, abs=0.02)
    focus = np.isin(drifted["Country"].to_numpy(),
                    dd.DRIFT_PRESETS["covariate"].focus_countries).mean()
    assert focus == pytest.approx(0.3 + 0.7 * 3 / len(COUNTRIES), abs=0.02)
    # unshifted columns are untouched
    assert drifted["AreaIncome"].equals(base["AreaIncome"])
    assert drifted["City"].equals(base["City"])


def test_concept_drift_changes_the_click_mechanism_not_the_features() -> None:
    base = _table(20_000, 2, None)
    drifted = _table(20_000, 2, dd.DRIFT_PRESETS["concept"])
    for name in features.SERVING_FEATURES:
        assert drifted[name].equals(base[name]), name
    columns = {name: drifted[name].to_numpy() for name in (*dg.COEFFICIENTS, "Male")}
    label = drifted[features.LABEL_KEY].to_numpy()
    old_auc = roc_auc(label, dg.click_probability(columns))
    new_auc = roc_auc(label, dd.drifted_click_probability(columns,
                                                             dd.DRIFT_PRESETS["concept"]))
    assert new_auc > 0.75 and old_auc < 0.6  # the old ground truth no longer ranks clicks


def test_no_drift_uses_the_original_mechanism() -> None:
    table = _table(5000, 3, dd.DRIFT_PRESETS["none"])
    columns = {name: table[name].to_numpy() for name in (*dg.COEFFICIENTS, "Male")}
    np.testing.assert_allclose(dd.drifted_click_probability(columns, dd.Drift()),
                               dg.click_probability(columns))


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"time_on_site_scale": 0.0}, "time_on_site_scale"),
    ({"male_fraction": 1.5}, "male_fraction"),
    ({"country_focus": -0.1}, "country_focus"),
    ({"age_shift": 100.0}, "age_shift"),
    ({"focus_countries": ("Atlantis",)}, "focus_countries"),
    ({"coefficients": {"Height": 1.0}}, "coefficients"),
])
def test_drift_validates(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        dd.Drift(**kwargs)
