"""Deterministic synthetic ad-click data with a known ground truth, written as spans or CSV.

Features are drawn from two latent user segments (heavy / light users), which gives realistic,
correlated marginals like the public "advertising" data set. The label is then drawn from
``click_probability``, a function of the observed columns only, so the Bayes-optimal score and
its AUC are known exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from models import features
from pipelines.common.metrics import roc_auc

# Parquet files written here carry this key in their schema metadata, so a run can tell that its
# data has a known ground truth (and report the best possible AUC).
GENERATOR_METADATA_KEY = b"clickflow.generator"
SCHEMA = pa.schema(
    [
        (name, {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}[kind])
        for name, kind in ((c, features.RAW_TYPES[c]) for c in features.RAW_COLUMNS)
    ],
    metadata={GENERATOR_METADATA_KEY: b"1"},
)
FIRST_SPAN_DAY = datetime(2016, 1, 1)
ROWS_PER_FILE = 1_000_000
DEFAULT_CHUNK_ROWS = 100_000
SPAN_DIR_RE = re.compile(r"span-(\d{5})")
PART_FILE_FORMAT = "part-{:05d}.parquet"

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

COUNTRIES: tuple[str, ...] = (
    "Afghanistan", "Albania", "Algeria", "American Samoa", "Andorra", "Angola", "Anguilla",
    "Antarctica", "Antigua and Barbuda", "Argentina", "Armenia", "Aruba", "Australia", "Austria",
    "Azerbaijan", "Bahamas", "Bahrain", "Bangladesh", "Barbados", "Belarus", "Belgium", "Belize",
    "Benin", "Bermuda", "Bhutan", "Bolivia", "Bosnia and Herzegovina", "Botswana",
    "Bouvet Island", "Brazil", "British Indian Ocean Territory", "British Virgin Islands",
    "Brunei Darussalam", "Bulgaria", "Burkina Faso", "Burundi", "Cambodia", "Cameroon", "Canada",
    "Cape Verde", "Cayman Islands", "Central African Republic", "Chad", "Chile", "China",
    "Christmas Island", "Cocos (Keeling) Islands", "Colombia", "Comoros", "Congo",
    "Cook Islands", "Costa Rica", "Cote d'Ivoire", "Croatia", "Cuba", "Cyprus", "Czech Republic",
    "Denmark", "Djibouti", "Dominica", "Dominican Republic", "Ecuador", "Egypt", "El Salvador",
    "Equatorial Guinea", "Eritrea", "Estonia", "Ethiopia", "Falkland Islands (Malvinas)",
    "Faroe Islands", "Fiji", "Finland", "France", "French Guiana", "French Polynesia",
    "French Southern Territories", "Gabon", "Gambia", "Georgia", "Germany", "Ghana", "Gibraltar",
    "Greece", "Greenland", "Grenada", "Guadeloupe", "Guam", "Guatemala", "Guernsey", "Guinea",
    "Guinea-Bissau", "Guyana", "Haiti", "Heard Island and McDonald Islands",
    "Holy See (Vatican City State)", "Honduras", "Hong Kong", "Hungary", "Iceland", "India",
    "Indonesia", "Iran", "Iraq", "Ireland", "Isle of Man", "Israel", "Italy", "Jamaica", "Japan",
    "Jersey", "Jordan", "Kazakhstan", "Kenya", "Kiribati", "Korea", "Kuwait", "Kyrgyz Republic",
    "Lao People's Democratic Republic", "Latvia", "Lebanon", "Lesotho", "Liberia",
    "Libyan Arab Jamahiriya", "Liechtenstein", "Lithuania", "Luxembourg", "Macao", "Macedonia",
    "Madagascar", "Malawi", "Malaysia", "Maldives", "Mali", "Malta", "Marshall Islands",
    "Martinique", "Mauritania", "Mauritius", "Mayotte", "Mexico", "Micronesia", "Moldova",
    "Monaco", "Mongolia", "Montenegro", "Montserrat", "Morocco", "Mozambique", "Myanmar",
    "Namibia", "Nauru", "Nepal", "Netherlands", "Netherlands Antilles", "New Caledonia",
    "New Zealand", "Nicaragua", "Niger", "Nigeria", "Niue", "Norfolk Island",
    "Northern Mariana Islands", "Norway", "Oman", "Pakistan", "Palau",
    "Palestinian Territory", "Panama", "Papua New Guinea", "Paraguay", "Peru", "Philippines",
    "Pitcairn Islands", "Poland", "Portugal", "Puerto Rico", "Qatar", "Reunion", "Romania",
    "Russian Federation", "Rwanda", "Saint Barthelemy", "Saint Helena",
    "Saint Kitts and Nevis", "Saint Lucia", "Saint Martin", "Saint Pierre and Miquelon",
    "Saint Vincent and the Grenadines", "Samoa", "San Marino", "Sao Tome and Principe",
    "Saudi Arabia", "Senegal", "Serbia", "Seychelles", "Sierra Leone", "Singapore", "Slovakia",
    "Slovenia", "Solomon Islands", "Somalia", "South Africa",
    "South Georgia and the South Sandwich Islands", "Spain", "Sri Lanka", "Sudan", "Suriname",
    "Svalbard & Jan Mayen Islands", "Swaziland", "Sweden", "Switzerland",
    "Syrian Arab Republic", "Taiwan", "Tajikistan", "Tanzania", "Thailand", "Timor-Leste",
    "Togo", "Tokelau", "Tonga", "Trinidad and Tobago", "Tunisia", "Turkey", "Turkmenistan",
    "Turks and Caicos Islands", "Tuvalu", "Uganda", "Ukraine", "United Arab Emirates",
    "United Kingdom", "United States Minor Outlying Islands", "United States of America",
    "United States Virgin Islands", "Uruguay", "Uzbekistan", "Vanuatu", "Venezuela", "Vietnam",
    "Wallis and Futuna", "Western Sahara", "Yemen", "Zambia", "Zimbabwe",
)  # fmt: skip

_CITY_STEMS = (
    "Aaron", "Adam", "Alexander", "Alicia", "Amanda", "Amy", "Andrea", "Andrew", "Angela", "Anna",
    "April", "Ashley", "Barbara", "Bell", "Benjamin", "Bowen", "Brandon", "Brenda", "Brian",
    "Brittany", "Carl", "Carlos", "Cassandra", "Cassie", "Charles", "Chelsea", "Christina",
    "Christopher", "Colin", "Craig", "Cynthia", "Daniel", "Danielle", "David", "Debra", "Dennis",
    "Derek", "Diana", "Donald", "Douglas", "Dylan", "Edward", "Elizabeth", "Emily", "Eric",
    "Erica", "Evans", "Frank", "Gary", "George", "Gregory", "Guy", "Hamilton", "Hannah", "Hansen",
    "Harper", "Heather", "Holly", "Jacqueline", "Jamie", "Jason", "Jeffery", "Jennifer", "Jeremy",
    "Jessica", "Jodi", "John", "Jones", "Joseph", "Joshua", "Julie", "Justin", "Karen", "Katie",
    "Kelly", "Kevin", "Kimberly", "Kristin", "Laura", "Lisa", "Manuel", "Maria", "Mark", "Megan",
    "Melinda", "Melissa", "Michael", "Michelle", "Miller", "Monica", "Morgan", "Nancy", "Nathan",
    "Nicole", "Palmer", "Pamela", "Patrick", "Paul", "Phelps", "Pruitt", "Rachel", "Ramirez",
    "Rebecca", "Richard", "Robert", "Ryan", "Samantha", "Sandra", "Sarah", "Scott", "Sharon",
    "Shawn", "Stephanie", "Steven", "Tara", "Teresa", "Terri", "Theresa", "Thomas", "Timothy",
    "Travis", "Tyler", "Victoria", "William", "Wright", "Zachary",
)  # fmt: skip
_CITY_PREFIXES = ("", "East ", "West ", "North ", "South ", "New ", "Lake ", "Port ")
_CITY_SUFFIXES = (
    "", "burgh", "ton", "furt", "berg", "stad", "bury", "town", "mouth", "side", "chester",
    "port", "view", "fort", "land", "shire", "borough", "haven", "ville", "field",
)  # fmt: skip
N_CITIES = 970

_TOPIC_ADJECTIVES = (
    "Adaptive", "Assimilated", "Automated", "Balanced", "Business-focused", "Centralized",
    "Cloned", "Compatible", "Configurable", "Cross-group", "Cross-platform", "Customer-focused",
    "Customizable", "Decentralized", "Devolved", "Distributed", "Diverse", "Enhanced",
    "Ergonomic", "Exclusive", "Extended", "Focused", "Front-line", "Fully-configurable",
    "Function-based", "Grass-roots", "Horizontal", "Implemented", "Innovative", "Integrated",
    "Intuitive", "Managed", "Mandatory", "Monitored", "Multi-channeled", "Multi-layered",
    "Networked", "Object-based", "Open-architected", "Open-source", "Operative", "Optimized",
    "Optional", "Organic", "Organized", "Persevering", "Persistent", "Phased", "Polarized",
    "Pre-emptive", "Proactive", "Profit-focused", "Profound", "Programmable", "Progressive",
    "Public-key", "Quality-focused", "Re-contextualized", "Re-engineered", "Reactive",
    "Realigned", "Reduced", "Reverse-engineered", "Robust", "Seamless", "Secured",
    "Self-enabling", "Sharable", "Stand-alone", "Streamlined", "Switchable", "Synchronized",
    "Synergistic", "Team-oriented", "Total", "Triple-buffered", "Universal", "Upgradable",
    "User-centric", "User-friendly", "Versatile", "Virtual", "Vision-oriented", "Visionary",
)  # fmt: skip
_TOPIC_BUZZWORDS = (
    "24/7", "3rdgeneration", "4thgeneration", "5thgeneration", "6thgeneration", "actuating",
    "analyzing", "asymmetric", "asynchronous", "attitude-oriented", "background",
    "bandwidth-monitored", "bi-directional", "bifurcated", "bottom-line", "clear-thinking",
    "client-driven", "client-server", "coherent", "cohesive", "composite", "content-based",
    "context-sensitive", "contextually-based", "dedicated", "demand-driven", "didactic",
    "directional", "discrete", "disintermediate", "dynamic", "eco-centric", "empowering",
    "encompassing", "even-keeled", "executive", "explicit", "exuding", "fault-tolerant",
    "foreground", "fresh-thinking", "full-range", "global", "grid-enabled", "heuristic",
    "high-level", "holistic", "homogeneous", "human-resource", "hybrid", "impactful",
    "incremental", "intangible", "interactive", "intermediate", "leadingedge", "local",
    "logistical", "maximized", "methodical", "mission-critical", "mobile", "modular",
    "motivating", "multi-state", "multi-tasking", "multimedia", "national", "needs-based",
    "neutral", "non-volatile", "object-oriented", "optimal", "optimizing", "radical",
    "real-time", "reciprocal", "regional", "responsive", "scalable", "secondary",
    "solution-oriented", "stable", "static", "system-worthy", "systematic", "systemic",
    "tangible", "tertiary", "transitional", "uniform", "upward-trending", "user-facing",
    "value-added", "web-enabled", "well-modulated", "zero-administration", "zero-defect",
    "zero-tolerance",
)  # fmt: skip
_TOPIC_NOUNS = (
    "ability", "access", "adapter", "algorithm", "alliance", "analyzer", "application",
    "approach", "architecture", "archive", "array", "attitude", "benchmark",
    "budgetary management", "capability", "capacity", "challenge", "circuit", "collaboration",
    "complexity", "concept", "conglomeration", "contingency", "core", "customer loyalty",
    "data-warehouse", "database", "definition", "emulation", "encoding", "encryption",
    "extranet", "firmware", "flexibility", "focus group", "forecast", "frame", "framework",
    "function", "functionalities", "groupware", "hardware", "help-desk", "hierarchy", "hub",
    "implementation", "info-mediaries", "infrastructure", "initiative", "installation",
    "instruction set", "interface", "internet solution", "intranet", "knowledge user",
    "knowledgebase", "leverage", "matrices", "matrix", "methodology", "middleware", "migration",
    "model", "moderator", "monitoring", "moratorium", "neural-net", "open architecture",
    "open system", "orchestration", "paradigm", "parallelism", "policy", "portal",
    "pricing structure", "process improvement", "product", "productivity", "project",
    "projection", "protocol", "secured line", "service-desk", "software", "solution",
    "standardization", "strategy", "structure", "success", "superstructure", "support",
    "synergy", "system engine", "task-force", "throughput", "time-frame", "toolset",
    "utilization", "website", "workforce",
)  # fmt: skip


def _build_city_names() -> tuple[str, ...]:
    """The fixed list of N_CITIES distinct synthetic city names (pure arithmetic, no RNG)."""
    combos = [
        (p, s) for p in _CITY_PREFIXES for s in _CITY_SUFFIXES if p or s
    ]  # every combo has a prefix or a suffix
    names: list[str] = []
    seen: set[str] = set()
    k = 0
    while len(names) < N_CITIES:
        prefix, suffix = combos[(k * 31) % len(combos)]
        name = f"{prefix}{_CITY_STEMS[k % len(_CITY_STEMS)]}{suffix}"
        if name not in seen:
            seen.add(name)
            names.append(name)
        k += 1
    return tuple(names)


CITIES: tuple[str, ...] = _build_city_names()

# Mildly non-uniform country popularity, fixed by arithmetic so every run uses the same one.
_COUNTRY_P = 1.0 + 0.6 * ((np.arange(len(COUNTRIES)) * 7919) % 11) / 10.0
_COUNTRY_P /= _COUNTRY_P.sum()

_COUNTRY_ARR = pa.array(COUNTRIES, pa.string())
_CITY_ARR = pa.array(CITIES, pa.string())
_ADJ_ARR = pa.array(_TOPIC_ADJECTIVES, pa.string())
_BUZZ_ARR = pa.array(_TOPIC_BUZZWORDS, pa.string())
_NOUN_ARR = pa.array(_TOPIC_NOUNS, pa.string())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def click_logit(batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """True log-odds of a click, from the observed numeric columns of ``batch``."""
    logit = INTERCEPT + MALE_COEF * (np.asarray(batch["Male"], dtype=np.float64) - 0.5)
    for name, coef in COEFFICIENTS.items():
        z = (np.asarray(batch[name], dtype=np.float64) - MEANS[name]) / STDS[name]
        logit = logit + coef * z
    return logit


def click_probability(batch: Mapping[str, np.ndarray]) -> np.ndarray:
    """True P(ClickedOnAd = 1) for each row of ``batch`` (a mapping of column name to values)."""
    return _sigmoid(click_logit(batch))


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


def generate_batches(
    rows: int,
    seed: int,
    *,
    start: datetime,
    days: float = 1.0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Yield ``rows`` synthetic rows in batches of ``chunk_rows``; timestamps in [start, +days).

    Chunk ``i`` uses its own stream ``SeedSequence(seed, spawn_key=(i,))``, so the output is
    fully determined by the arguments.
    """
    _check_int("rows", rows, 1)
    _check_int("seed", seed, 0)
    _check_int("chunk_rows", chunk_rows, 1)
    if start.tzinfo is not None or start.microsecond:
        raise ValueError(f"start must be a naive datetime in whole seconds, got {start!r}")
    n_seconds = int(days * 86_400)
    if not n_seconds >= 1:
        raise ValueError(f"days must cover at least one second, got {days!r}")
    start64 = np.datetime64(start.replace(tzinfo=None), "s")
    for index, offset in enumerate(range(0, rows, chunk_rows)):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))
        yield _gen_chunk(rng, min(chunk_rows, rows - offset), start64, n_seconds)


# Drifted traffic: what the live system sees after the world changed. Applied on top of the
# normal generator, so the same seed gives the same rows before the drift is applied.
DRIFTED_SCHEMA = SCHEMA.remove_metadata()  # its labels no longer follow click_probability


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
    logit = drift.intercept + MALE_COEF * (np.asarray(batch["Male"], dtype=np.float64) - 0.5)
    for name, coef in COEFFICIENTS.items():
        z = (np.asarray(batch[name], dtype=np.float64) - MEANS[name]) / STDS[name]
        logit = logit + drift.coefficients.get(name, coef) * z
    return _sigmoid(logit)


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


def generate_drifted_batches(
    rows: int,
    seed: int,
    drift: Drift,
    *,
    start: datetime,
    days: float = 1.0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pa.RecordBatch]:
    """``generate_batches(rows, seed, ...)`` with ``drift`` applied (deterministic per seed)."""
    batches = generate_batches(rows, seed, start=start, days=days, chunk_rows=chunk_rows)
    for index, batch in enumerate(batches):
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index, 1))))
        yield apply_drift(batch, drift, rng)


def _check_int(name: str, value: int, minimum: int) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def span_dir_name(span: int) -> str:
    """Folder name of span ``span``, e.g. ``span-00001``."""
    _check_int("span", span, 1)
    if span > 99_999:
        raise ValueError(f"span must be <= 99999, got {span}")
    return f"span-{span:05d}"


def span_seed(seed: int, span: int) -> int:
    """The generator seed of span ``span``: derived from (seed, span), different per span."""
    _check_int("seed", seed, 0)
    return int(np.random.SeedSequence([seed, span]).generate_state(1, np.uint64)[0])


def span_start(span: int) -> datetime:
    """Start of the day that span ``span`` covers (span 1 is 2016-01-01)."""
    return FIRST_SPAN_DAY + timedelta(days=span - 1)


def write_span(
    data_dir: str | os.PathLike[str],
    span: int,
    rows: int,
    seed: int,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    rows_per_file: int = ROWS_PER_FILE,
) -> Path:
    """Atomically write span ``span`` as ``<data_dir>/span-NNNNN/part-NNNNN.parquet`` files."""
    _check_int("rows", rows, 1)
    _check_int("chunk_rows", chunk_rows, 1)
    batches = generate_batches(
        rows, span_seed(seed, span), start=span_start(span), chunk_rows=chunk_rows
    )
    return write_span_batches(data_dir, span, batches, rows_per_file=rows_per_file)


def write_span_batches(
    data_dir: str | os.PathLike[str],
    span: int,
    batches: Iterable[pa.RecordBatch],
    *,
    schema: pa.Schema = SCHEMA,
    rows_per_file: int = ROWS_PER_FILE,
) -> Path:
    """Atomically write ``batches`` (columns of ``schema``) as span ``span``.

    The span is written to a hidden folder and renamed, so a reader never sees half a span.
    Used for generated data and for labelled serving traffic ingested as a new span.
    """
    name = span_dir_name(span)
    _check_int("rows_per_file", rows_per_file, 1)
    data_path = Path(data_dir)
    final = data_path / name
    if final.exists():
        raise FileExistsError(f"span folder {final} already exists; refusing to overwrite it")
    data_path.mkdir(parents=True, exist_ok=True)
    tmp = data_path / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write_parts(tmp, iter(batches), rows_per_file, schema)
        if not any(tmp.iterdir()):
            raise ValueError(f"span {span}: no rows to write")
        if final.exists():
            raise FileExistsError(f"span folder {final} appeared while writing; not replacing it")
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_parts(
    folder: Path,
    batches: Iterator[pa.RecordBatch],
    rows_per_file: int,
    schema: pa.Schema = SCHEMA,
) -> None:
    """Write ``batches`` to ``folder`` as part files of at most ``rows_per_file`` rows each."""
    part = 0
    writer: pq.ParquetWriter | None = None
    in_file = 0
    try:
        for batch in batches:
            while batch.num_rows:
                if writer is None or in_file == rows_per_file:
                    if writer is not None:
                        writer.close()
                    writer = pq.ParquetWriter(folder / PART_FILE_FORMAT.format(part), schema)
                    part += 1
                    in_file = 0
                take = min(batch.num_rows, rows_per_file - in_file)
                writer.write_batch(batch.slice(0, take))
                in_file += take
                batch = batch.slice(take)
    finally:
        if writer is not None:
            writer.close()


def is_generated(path: str | os.PathLike[str]) -> bool:
    """Whether a Parquet file was written by this generator (its labels have a known truth)."""
    metadata = pq.read_schema(path).metadata or {}
    return metadata.get(GENERATOR_METADATA_KEY) == b"1"


def list_spans(data_dir: str | os.PathLike[str]) -> list[int]:
    """Sorted numbers of the complete span folders in ``data_dir`` (empty if it is missing)."""
    data_path = Path(data_dir)
    if not data_path.is_dir():
        return []
    spans = []
    for entry in data_path.iterdir():
        match = SPAN_DIR_RE.fullmatch(entry.name)
        if match and entry.is_dir() and int(match.group(1)) >= 1:
            spans.append(int(match.group(1)))
    return sorted(spans)


def append_span(
    data_dir: str | os.PathLike[str],
    rows: int,
    seed: int,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    rows_per_file: int = ROWS_PER_FILE,
) -> tuple[int, Path]:
    """Write the next span (one after the highest existing, 1 when none); return (span, path)."""
    span = max(list_spans(data_dir), default=0) + 1
    path = write_span(
        data_dir, span, rows, seed, chunk_rows=chunk_rows, rows_per_file=rows_per_file
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
) -> Path:
    """Write ``generate_batches(rows, seed, ...)`` as one CSV file (header = RAW_COLUMNS)."""
    out = Path(path)
    batches = generate_batches(rows, seed, start=start, days=days, chunk_rows=chunk_rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with pacsv.CSVWriter(tmp, SCHEMA) as writer:
            for batch in batches:
                writer.write_batch(batch)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def _int_at_least(minimum: int) -> type:
    """Return an argparse type: an integer >= ``minimum`` (argparse names the flag in its error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser (subcommands ``append`` and ``csv``)."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.data.generator",
        description="Generate synthetic ad-click data with a known ground truth.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    append = sub.add_parser("append", help="write the next span folder of Parquet files")
    append.add_argument("--data-dir", required=True, type=Path, help="folder holding the spans")
    csv = sub.add_parser("csv", help="write one CSV file")
    csv.add_argument("--out", required=True, type=Path, help="CSV file to write")
    for cmd in (append, csv):
        cmd.add_argument("--rows", required=True, type=_int_at_least(1), help="rows to write")
        cmd.add_argument("--seed", default=0, type=_int_at_least(0), help="random seed (>= 0)")
        cmd.add_argument(
            "--chunk-rows",
            default=DEFAULT_CHUNK_ROWS,
            type=_int_at_least(1),
            help="rows generated per batch / Parquet row group",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    began = time.perf_counter()
    if args.command == "append":
        span, path = append_span(args.data_dir, args.rows, args.seed, chunk_rows=args.chunk_rows)
        what = f"span {span} to {path}"
    else:
        path = write_csv(args.out, args.rows, args.seed, chunk_rows=args.chunk_rows)
        what = f"CSV {path}"
    seconds = time.perf_counter() - began
    rate = args.rows / seconds if seconds > 0 else math.inf
    print(f"wrote {what}: {args.rows} rows in {seconds:.2f} s ({rate:,.0f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
