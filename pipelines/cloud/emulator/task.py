"""One task run as its container would run it: its own command and args, ``{{$}}`` replaced by
the ExecutorInput JSON, in a fresh process whose PYTHONPATH holds only the staged image and
the shim folder, with the image's ENV and WORKDIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.cloud.emulator.dag import SpecError, Task
from pipelines.cloud.emulator.image import Image
from pipelines.cloud.emulator.substitutions import Substitutions, split_args

SHIM_DIR = Path(__file__).with_name("shim")
PLACEHOLDER = "{{$}}"
# Variables of this process that the image does not have and that would change a task.
_DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


@dataclass
class Result:
    """How one task ended."""

    task: str
    executor_class: str
    status: str  # succeeded, failed, skipped
    seconds: float = 0.0
    log: Path | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    message: str = ""


def command_line(task: Task, executor_input: dict[str, Any], subs: Substitutions) -> list[str]:
    """The container's command + args, placeholder filled in and Beam flags made local."""
    payload = json.dumps(executor_input)
    args = [a.replace(PLACEHOLDER, payload) for a in task.container.get("args", [])]
    leftover = [a for a in args if "{{$" in a]
    if leftover:
        raise SpecError(f"task {task.name!r}: placeholder {leftover[0][:60]!r} is not "
                        "emulated (only {{$}}, the whole ExecutorInput)")
    head, beam = split_args(args)
    accelerator = task.container.get("resources", {}).get("accelerator")
    if accelerator:
        subs.record(task.name, "accelerator (step resources)",
                    f"{accelerator.get('count')} x {accelerator.get('type')}", "this CPU")
    if "register_model" in task.executor_class:
        subs.record(task.name, "Vertex AI Model Registry", "aiplatform.Model.list / upload",
                    "recorded in <workdir>/records/model-registry.jsonl, not sent")
    if "google_cloud_ai_platform" in task.executor_class:
        subs.record(task.name, "Vertex AI job service (JobServiceClient)",
                    "create_custom_job / get_custom_job on aiplatform.googleapis.com",
                    "validated against aiplatform_v1.CustomJob, recorded under "
                    "<workdir>/records, its container command run here with CLUSTER_SPEC, "
                    "on this CPU (machine type and accelerators are checked, not provisioned)")
    command = list(task.container.get("command", []))
    if not command:
        raise SpecError(f"task {task.name!r}: the container has no command; the image's "
                        "ENTRYPOINT (Beam's boot) is not emulated")
    if command[0] in ("python", "python3"):
        subs.record(task.name, "python", f"{command[0]} (the image's Python)", sys.executable)
        subs.record(task.name, "packages the image lacks", "not installed in the image",
                    "made unimportable: kubernetes_validate (shim/sitecustomize.py)")
        command[0] = sys.executable
    return [*command, *head, *subs.beam_args(task.name, beam)]


def environment(image: Image, staged: Path, settings_file: Path, tmp: Path) -> dict[str, str]:
    """This process's environment less what the image lacks, plus the image's ENV with
    PYTHONPATH = the staged image and the shim."""
    env = {k: v for k, v in os.environ.items()
           if k not in _DROPPED_ENV and not k.startswith("CLICKFLOW_")}
    for key, value in image.env:
        env[key] = value.replace(image.workdir, str(staged))
    env["PYTHONPATH"] = os.pathsep.join([str(staged), str(SHIM_DIR)])
    env["CLICKFLOW_EMULATOR_SHIM"] = str(settings_file)
    env["TMPDIR"] = str(tmp)
    return env


def run(task: Task, command: list[str], env: dict[str, str], cwd: Path, log: Path,
        timeout: float) -> tuple[int, float]:
    """Runs the command; (exit code, seconds). The output goes to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        out.write(f"# task {task.name}: {' '.join(a[:200] for a in command)}\n")
        out.flush()
        try:
            rc = subprocess.call(command, env=env, cwd=cwd, stdout=out,
                                 stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            out.write(f"\n# killed after {timeout:.0f} s (--task-timeout)\n")
            rc = 124
    return rc, time.monotonic() - started


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        return "".join(log.read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""
