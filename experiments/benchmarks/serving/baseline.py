"""The two small models and the in-process baseline: the SavedModel called through the
server's own code, without HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.benchmarks.serving.clients import body, latency
from experiments.benchmarks.serving.settings import MODEL, Settings


def export_models(work: Path) -> tuple[Path, Path]:
    from pipelines.testing import small_model

    started = time.perf_counter()
    first = small_model.export_small_model(work / "export" / "1", seed=0)
    second = small_model.export_small_model(work / "export" / "2", seed=1)
    print(f"exported two small models in {time.perf_counter() - started:.1f} s", flush=True)
    return first, second


def in_process(v1: Path, v2: Path, rows: Sequence[dict[str, Any]], settings: Settings
               ) -> tuple[dict[str, Any], dict[int, list[float]]]:
    """Baseline latencies of the SavedModel called in process, and both versions' answers."""
    from deployment.server import convert
    from deployment.server import servable as servable_lib

    references = {}
    timings: dict[str, Any] = {}
    for version, path in ((1, v1), (2, v2)):
        servable = servable_lib.load(MODEL, version, path)
        servable_lib.warm_up(servable)
        signature = servable.signatures[servable_lib.DEFAULT_SIGNATURE]
        inputs, _ = convert.instances_to_inputs(list(rows), signature.inputs, signature.name,
                                                len(rows))
        references[version] = [float(p) for p in
                               signature(inputs)["probability"].reshape(-1)]
        if version != 1:
            continue
        one = [convert.instances_to_inputs([row], signature.inputs, signature.name, 1)[0]
               for row in rows]
        bodies = [body([row]) for row in rows]
        for i in range(settings.warmup):
            signature(one[i % len(one)])
        call, full = [], []
        deadline = time.monotonic() + settings.phase_limit_s / 2
        for i in range(settings.requests):
            started = time.perf_counter()
            signature(one[i % len(one)])
            call.append(time.perf_counter() - started)
            if time.monotonic() > deadline:
                break
        for i in range(settings.requests):
            started = time.perf_counter()
            payload = json.loads(bodies[i % len(bodies)])
            converted, n = convert.instances_to_inputs(
                payload["instances"], signature.inputs, signature.name, 1000)
            outputs = signature(converted)
            json.dumps({"predictions": convert.outputs_to_rows(outputs, n)})
            full.append(time.perf_counter() - started)
            if time.monotonic() > deadline:
                break
        timings = {"call": latency(call), "json_and_call": latency(full)}
    return timings, references
