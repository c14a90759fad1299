"""Names and kinds of the ad-click features: the one place that lists them."""

from __future__ import annotations

LABEL_KEY = "ClickedOnAd"

# Raw numeric features, as stored (float minutes / currency, int years).
FLOAT_FEATURES = ("DailyTimeSpentOnSite", "AreaIncome", "DailyInternetUsage")
INT_FEATURES = ("Age", "Male")
# Categorical strings with a learned vocabulary and out-of-vocabulary buckets.
VOCAB_FEATURES = ("City", "Country")
TEXT_FEATURE = "AdTopicLine"
TIMESTAMP_FEATURE = "Timestamp"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

# Every raw column in the order a CSV of this schema lists them.
RAW_COLUMNS = (
    "DailyTimeSpentOnSite",
    "Age",
    "AreaIncome",
    "DailyInternetUsage",
    "AdTopicLine",
    "City",
    "Male",
    "Country",
    "Timestamp",
    "ClickedOnAd",
)

# Logical type of each raw column: "float", "int" or "string".
RAW_TYPES = {
    "DailyTimeSpentOnSite": "float",
    "Age": "int",
    "AreaIncome": "float",
    "DailyInternetUsage": "float",
    "AdTopicLine": "string",
    "City": "string",
    "Male": "int",
    "Country": "string",
    "Timestamp": "string",
    "ClickedOnAd": "int",
}

# Serving inputs: every raw column but the label.
SERVING_FEATURES = tuple(c for c in RAW_COLUMNS if c != LABEL_KEY)

# The SavedModel signatures the Evaluator calls (model.py exports them; a baseline must have them).
EVAL_SIGNATURE = "serving_tf_example"
TRANSFORM_SIGNATURE = "transform_features"

VOCAB_SIZE = {"City": 1000, "Country": 250}
OOV_BUCKETS = {"City": 10, "Country": 5}
# Values seen fewer times than this in the train split get no vocabulary entry of their own
# and share the OOV buckets: real data's near-unique cities would otherwise each get an
# embedding fitted to one or two rows, i.e. to noise.
VOCAB_MIN_COUNT = {"City": 10, "Country": 10}
TOPIC_HASH_BUCKETS = 64


def transformed_name(key: str) -> str:
    """Name of a feature after Transform."""
    return f"{key}_xf"
