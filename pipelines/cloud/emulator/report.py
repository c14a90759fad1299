"""What a run did, task by task, and what the emulator substituted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipelines.cloud.emulator.substitutions import Substitution
from pipelines.cloud.emulator.task import Result, log_tail

# Artifact properties worth a glance in the table (the rest are in executor_output.json).
KEY_PROPERTIES = ("blessed", "pushed", "pushed_version", "found", "served_version",
                  "split_names", "best_hyperparameters", "registered_model")


def key_outputs(outputs: dict[str, Any]) -> str:
    parts = []
    for key, artifact in sorted(outputs.get("artifacts", {}).items()):
        props = {k: v for k, v in (artifact.get("metadata") or {}).items()
                 if k in KEY_PROPERTIES}
        shown = ", ".join(f"{k}={_value(v)}" for k, v in sorted(props.items()))
        parts.append(f"{key}({shown})" if shown else key)
    text = " ".join(parts)
    return text if len(text) <= 90 else text[:87] + "..."


def _value(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def table(run_id: str, results: list[Result]) -> str:
    rows = [(r.task, r.executor_class.removeprefix("tfx.") or "-",
             f"{r.seconds:.1f}" if r.seconds else "-", r.status,
             key_outputs(r.outputs) or r.message) for r in results]
    header = ("task", "executor class", "seconds", "status", "key outputs")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    lines = [f"run {run_id}"]
    for row in [header, *rows]:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False))
                     + "  " + row[4])
    return "\n".join(lines)


def substitutions(used: Iterable[Substitution]) -> str:
    """Each distinct substitution once, with the tasks it was made for."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for s in used:
        tasks = grouped.setdefault((s.what, s.cloud, s.local), [])
        if s.task not in tasks:
            tasks.append(s.task)
    lines = ["substitutions (what cannot run here, and what ran instead):"]
    for (what, cloud, local), tasks in sorted(grouped.items()):
        lines.append(f"  - {what} [{', '.join(tasks)}]\n      cloud: {cloud}\n      here:  "
                     f"{local}")
    return "\n".join(lines)


def failures(results: list[Result]) -> str:
    lines = []
    for r in results:
        if r.status != "failed":
            continue
        lines.append(f"task {r.task} failed: {r.message}")
        if r.log is not None:
            lines.append(f"--- last lines of {r.log} ---\n{log_tail(r.log)}--- end of log "
                         f"(full log: {r.log}) ---")
    return "\n".join(lines)
