"""A small client of TF Serving's REST API (v1) and its Prometheus metrics.

It speaks only what TF Serving itself serves, so the dashboard works the same against the local
server (`python -m deployment.server`) and TF Serving on GKE. A prediction is sent to the
explicit version URL (``/v1/models/<name>/versions/<v>:predict``) of the newest AVAILABLE
version: TF Serving's predict response does not say which version answered, the URL does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from models import features

# The local server serves /metrics; TF Serving serves the path of its monitoring config, by
# convention /monitoring/prometheus/metrics.
METRICS_PATHS = ("/metrics", "/monitoring/prometheus/metrics")
SIGNATURE = "serving_default"
QUANTILES = (0.5, 0.9, 0.99)
# The local server labels its liveness/readiness probes api="health" and scrapes api="metrics";
# neither is model traffic.
PROBE_APIS = ("health", "metrics")


class ServingError(Exception):
    """The model server could not answer a request; the message says what and where."""


class ServerUnavailable(ServingError):
    """Nothing answered at the serving URL (refused, unreachable or timed out)."""


class ServingRequestError(ServingError):
    """The server answered with an error: a bad request, an unknown model or version, ..."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    version: int
    state: str
    error: str = ""


@dataclasses.dataclass(frozen=True)
class Prediction:
    probability: float
    clicked: int | None = None


@dataclasses.dataclass(frozen=True)
class PredictResult:
    """Predictions in the order of the instances, and the version that computed them."""

    model_version: int
    predictions: tuple[Prediction, ...]


def to_instance(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row -> a JSON instance of the raw serving features, each with the schema's type.

    A missing feature or a value that is not of its kind raises ValueError naming the feature.
    """
    instance: dict[str, Any] = {}
    problems = []
    for name in features.SERVING_FEATURES:
        if name not in row or row[name] is None or (
                isinstance(row[name], float) and math.isnan(row[name])):
            problems.append(f"{name} is missing")
            continue
        value, kind = row[name], features.RAW_TYPES[name]
        try:
            if kind == "float":
                instance[name] = float(value)
            elif kind == "int":
                number = float(value)
                if number != int(number):
                    raise ValueError
                instance[name] = int(number)
            else:
                instance[name] = str(value)
        except (TypeError, ValueError, OverflowError):
            expected = {"float": "a number", "int": "a whole number"}[kind]
            problems.append(f"{name} should be {expected}, got {value!r}")
    if problems:
        raise ValueError("; ".join(problems))
    return instance


def _prediction(item: Any, index: int) -> Prediction:
    if isinstance(item, Mapping):
        if "probability" not in item:
            raise ServingRequestError(
                f"prediction {index} has no 'probability' output (outputs: {sorted(item)}); is "
                f"this the clickflow model with its '{SIGNATURE}' signature?")
        probability, clicked = item["probability"], item.get("clicked")
    else:
        probability, clicked = item, None
    if isinstance(probability, list) and len(probability) == 1:
        probability = probability[0]
    if isinstance(clicked, list) and len(clicked) == 1:
        clicked = clicked[0]
    if not isinstance(probability, (int, float)):
        raise ServingRequestError(f"prediction {index}: expected a number as 'probability', "
                                  f"got {probability!r}")
    return Prediction(float(probability), None if clicked is None else int(clicked))


class ServingClient:
    """Blocking client for one model on one server. Use as a context manager or call close()."""

    def __init__(self, base_url: str, model_name: str, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise ServerUnavailable(
                f"no model server answers at {self.base_url} ({type(err).__name__}: "
                f"{str(err) or 'no details'})") from None
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            detail = body.get("error") if isinstance(body, dict) else None
            detail = detail or response.text.strip()[:300] or response.reason_phrase
            raise ServingRequestError(
                f"{method} {self.base_url}{path} answered {response.status_code}: {detail}",
                response.status_code)
        if body is None:
            raise ServingRequestError(
                f"{method} {self.base_url}{path} answered {response.status_code} with a body "
                f"that is not JSON: {response.text[:200]!r}", response.status_code)
        return body

    def model_status(self) -> list[VersionStatus]:
        """Every version the server knows of the model, newest first."""
        body = self._json("GET", f"/v1/models/{self.model_name}")
        versions = []
        for entry in body.get("model_version_status", []):
            status = entry.get("status") or {}
            error = status.get("error_message", "") if status.get("error_code", "OK") != "OK" \
                else ""
            versions.append(VersionStatus(int(entry["version"]), entry.get("state", "UNKNOWN"),
                                          error))
        return sorted(versions, key=lambda v: v.version, reverse=True)

    def label_version(self, label: str) -> int | None:
        """The version a version label (e.g. ``stable``, ``canary``) points at, None when the
        model has no such label.

        Neither TF Serving's REST API nor ours lists a model's labels; a label is asked for by
        name (``GET /v1/models/<name>/labels/<label>``, TF Serving's api_rest.md), and an
        unknown one answers 4xx."""
        try:
            body = self._json("GET", f"/v1/models/{self.model_name}/labels/{label}")
        except ServingRequestError as err:
            if err.status_code is not None and 400 <= err.status_code < 500:
                return None
            raise
        entries = body.get("model_version_status") if isinstance(body, dict) else None
        if not entries:
            return None
        return int(entries[0]["version"])

    def serving_version(self) -> int:
        """The newest AVAILABLE version: the one TF Serving answers unversioned requests with."""
        statuses = self.model_status()
        available = [s.version for s in statuses if s.state == "AVAILABLE"]
        if not available:
            states = ", ".join(f"{s.version}: {s.state}" for s in statuses) or "none"
            raise ServingRequestError(
                f"model {self.model_name!r} at {self.base_url} has no AVAILABLE version "
                f"(versions: {states})")
        return max(available)

    def metadata(self, version: int | None = None) -> dict[str, Any]:
        path = f"/v1/models/{self.model_name}"
        if version is not None:
            path += f"/versions/{version}"
        return self._json("GET", path + "/metadata")

    def predict(self, instances: Sequence[Mapping[str, Any]],
                version: int | None = None) -> PredictResult:
        """Click probabilities for raw-feature instances (row format, ``serving_default``)."""
        if not instances:
            raise ValueError("predict needs at least one instance")
        version = self.serving_version() if version is None else version
        body = self._json(
            "POST", f"/v1/models/{self.model_name}/versions/{version}:predict",
            json={"signature_name": SIGNATURE, "instances": [to_instance(i) for i in instances]})
        predictions = body.get("predictions") if isinstance(body, dict) else None
        if not isinstance(predictions, list) or len(predictions) != len(instances):
            raise ServingRequestError(
                f"expected {len(instances)} predictions from {self.base_url}, got "
                f"{type(predictions).__name__ if predictions is None else len(predictions)}")
        return PredictResult(version, tuple(_prediction(p, i) for i, p in enumerate(predictions)))

    def predict_in_chunks(self, instances: Sequence[Mapping[str, Any]], chunk_rows: int = 500,
                          progress: Any = None) -> PredictResult:
        """Like predict, one request per ``chunk_rows`` instances, all to the same version."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        version = self.serving_version()
        out: list[Prediction] = []
        for start in range(0, len(instances), chunk_rows):
            chunk = instances[start:start + chunk_rows]
            out.extend(self.predict(chunk, version).predictions)
            if progress is not None:
                progress(len(out), len(instances))
        return PredictResult(version, tuple(out))

    def metrics_text(self) -> tuple[str, str]:
        """(URL, text) of the Prometheus metrics; tries the local server's and TF Serving's path."""
        tried = []
        for path in METRICS_PATHS:
            response = self._request("GET", path)
            if response.status_code == 200:
                return f"{self.base_url}{path}", response.text
            tried.append(f"{path} ({response.status_code})")
        raise ServingRequestError(
            f"{self.base_url} serves no Prometheus metrics (tried {', '.join(tried)}); TF Serving "
            "needs --monitoring_config_file with prometheus_config enabled")


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    type: str
    documentation: str
    samples: tuple[Sample, ...]


def parse_metrics(text: str) -> list[Family]:
    """Prometheus text exposition -> metric families; ServingRequestError if it does not parse."""
    try:
        return [
            Family(f.name, f.type, f.documentation,
                   tuple(Sample(s.name, dict(s.labels), float(s.value)) for s in f.samples))
            for f in text_string_to_metric_families(text)
        ]
    except (ValueError, TypeError, IndexError) as err:
        raise ServingRequestError(f"the metrics text is not in Prometheus format: {err}") from None


def _label_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(all)"


def _succeeded(labels: Mapping[str, str]) -> bool:
    status = labels.get("status", labels.get("code", "OK"))
    return status == "OK" or status.startswith("2")


def request_counts(families: Iterable[Family],
                   skip_apis: Sequence[str] = PROBE_APIS) -> list[dict[str, Any]]:
    """Request counters, one row per label set, with whether the status means success.

    Counters named ``*requests`` (the local server) or ``*request_count`` (TF Serving) count;
    health probes (label ``api`` in ``skip_apis``) do not.
    """
    rows = []
    for family in families:
        if family.type != "counter" or not family.name.endswith(("requests", "request_count")):
            continue
        for sample in family.samples:
            if sample.name.endswith("_created") or sample.labels.get("api") in skip_apis:
                continue
            rows.append({"metric": family.name, "labels": _label_text(sample.labels),
                         "count": sample.value, "succeeded": _succeeded(sample.labels)})
    return rows


def counters_and_gauges(families: Iterable[Family]) -> list[dict[str, Any]]:
    """Every counter and gauge sample (loaded versions, model loads, rows predicted, ...)."""
    return [{"metric": family.name, "type": family.type, "labels": _label_text(sample.labels),
             "value": sample.value}
            for family in families if family.type in ("counter", "gauge")
            for sample in family.samples if not sample.name.endswith("_created")]


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside cumulative buckets.

    ``buckets`` are (upper bound, cumulative count) pairs, the last one +Inf. None if empty.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be between 0 and 1, got {q}")
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def _milliseconds_per_unit(name: str) -> float | None:
    if name.endswith("_seconds"):
        return 1000.0
    if name.endswith(("_ms", "_milliseconds")):
        return 1.0
    # TF Serving's request latency histogram is in microseconds.
    if name.endswith(("_us", "_microseconds")) or name == ":tensorflow:serving:request_latency":
        return 0.001
    return None


def latency_quantiles(families: Iterable[Family], quantiles: Sequence[float] = QUANTILES,
                      skip_apis: Sequence[str] = PROBE_APIS) -> list[dict[str, Any]]:
    """p50/p90/p99 (in ms where the unit is known) of each latency histogram and label set."""
    rows = []
    for family in families:
        is_latency = "latency" in family.name or "duration" in family.name
        if family.type != "histogram" or not is_latency:
            continue
        series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for sample in family.samples:
            if sample.labels.get("api") in skip_apis:
                continue
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            entry = series.setdefault(tuple(sorted(labels.items())),
                                      {"buckets": [], "count": 0.0, "sum": 0.0})
            if sample.name.endswith("_bucket"):
                entry["buckets"].append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                entry["count"] = sample.value
            elif sample.name.endswith("_sum"):
                entry["sum"] = sample.value
        scale = _milliseconds_per_unit(family.name)
        for key, entry in sorted(series.items()):
            row: dict[str, Any] = {"metric": family.name, "labels": _label_text(dict(key)),
                                   "count": entry["count"],
                                   "unit": "ms" if scale is not None else "as exported"}
            mean = entry["sum"] / entry["count"] if entry["count"] else None
            row["mean"] = None if mean is None else mean * (scale or 1.0)
            for q in quantiles:
                value = histogram_quantile(q, entry["buckets"])
                row[f"p{round(q * 100):d}"] = None if value is None else value * (scale or 1.0)
            rows.append(row)
    return rows
