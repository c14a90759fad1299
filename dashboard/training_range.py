"""What the served model was trained on: numeric ranges and known categories, for warnings.

The run is the one whose Pusher pushed the served version (``RunRecord.pushed_version``); when
none did (a model pushed from elsewhere), the newest run that trained a model on statistics,
and the page says so. Ranges are the train split's min and max from its StatisticsGen
(TFDV). Known categories come from the run's Transform vocabulary files
(``transform_graph/transform_fn/assets/<feature>``): exactly the values the model has an
embedding for. TFDV's string statistics keep only the top values, so they are used only when
the vocabulary cannot be found, and the page says which source it used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dashboard import history
from models import features
from pipelines.common.names import STATISTICS_FILE

CATEGORICAL = tuple(features.VOCAB_SIZE)  # City, Country: the features with a vocabulary
NUMERIC = tuple(n for n in features.SERVING_FEATURES if features.RAW_TYPES[n] in ("int", "float"))
TRAIN = "train"


@dataclasses.dataclass(frozen=True)
class TrainingRange:
    run_id: str
    why: str  # how the run was chosen, for the page
    numeric: dict[str, tuple[float, float]]
    categories: dict[str, frozenset[str]]
    category_source: dict[str, str]  # feature -> where its known values come from


def pick_run(runs: Sequence[history.RunRecord], served_version: int
             ) -> tuple[history.RunRecord | None, str]:
    """(the run that trained the served model, why it was picked); (None, why) without one."""
    for run in runs:
        if run.pushed_version == str(served_version) and run.statistics_uri:
            return run, f"run {run.run_id} pushed the served version {served_version}"
    trained = [r for r in runs if r.statistics_uri and r.model_uri]
    if trained:
        run = trained[0]  # runs come newest first
        return run, (f"no run pushed the served version {served_version}; using the newest "
                     f"run that trained a model, {run.run_id}")
    return None, "no run in the pipeline root has training statistics"


def _train_stats(statistics_uri: str) -> Any:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    path = Path(statistics_uri) / f"Split-{TRAIN}" / STATISTICS_FILE
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.ParseFromString(path.read_bytes())
    return stats


def _feature_name(feature: Any) -> str:
    return feature.path.step[0] if feature.path.step else feature.name


def vocabulary_folder(pipeline_root: Path, run_id: str) -> Path | None:
    """The run's Transform assets folder, found through its run_summary.json."""
    for summary in history.read_summaries(Path(pipeline_root)):
        if summary.get("mlmd_run_context") == run_id or summary.get("run_id") == run_id:
            graph = (summary.get("artifacts") or {}).get("Transform.transform_graph")
            if graph and (Path(graph) / "transform_fn" / "assets").is_dir():
                return Path(graph) / "transform_fn" / "assets"
    return None


def read_vocabulary(path: Path) -> frozenset[str]:
    # tf.Transform writes one value a line, as UTF-8 bytes.
    return frozenset(path.read_text(encoding="utf-8", errors="replace").splitlines())


def load(run: history.RunRecord, why: str, pipeline_root: Path) -> TrainingRange:
    """The train split's ranges and categories of ``run``."""
    stats = _train_stats(run.statistics_uri)
    numeric: dict[str, tuple[float, float]] = {}
    top: dict[str, tuple[frozenset[str], int]] = {}
    for dataset in stats.datasets:
        for feature in dataset.features:
            name = _feature_name(feature)
            if name in NUMERIC and feature.WhichOneof("stats") == "num_stats":
                numeric[name] = (feature.num_stats.min, feature.num_stats.max)
            elif name in CATEGORICAL and feature.WhichOneof("stats") == "string_stats":
                strings = feature.string_stats
                top[name] = (frozenset(v.value for v in strings.top_values), strings.unique)
    assets = vocabulary_folder(pipeline_root, run.run_id)
    categories: dict[str, frozenset[str]] = {}
    source: dict[str, str] = {}
    for name in CATEGORICAL:
        if assets is not None and (assets / name).is_file():
            categories[name] = read_vocabulary(assets / name)
            source[name] = (f"the model's Transform vocabulary ({len(categories[name]):,} "
                            f"values, {assets / name})")
        elif name in top:
            values, unique = top[name]
            categories[name] = values
            source[name] = (f"TFDV's top {len(values):,} of {unique:,} values (no Transform "
                            f"vocabulary found; a rarer value may be flagged wrongly)")
    return TrainingRange(run.run_id, why, numeric, categories, source)


def _text(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def warnings(values: Mapping[str, Any], trained: TrainingRange) -> list[str]:
    """Why the model may answer ``values`` poorly: outside its training data, or unseen."""
    out = []
    for name, (low, high) in trained.numeric.items():
        value = values.get(name)
        if isinstance(value, (int, float)) and not low <= value <= high:
            out.append(f"{name} {_text(value)} is outside the training data's range "
                       f"{_text(low)}..{_text(high)}")
    for name, known in trained.categories.items():
        value = values.get(name)
        if isinstance(value, str) and value not in known:
            out.append(f"{name} {value!r} never occurs in the training data: the model treats "
                       f"it as an unknown {name.lower()}")
    return out
