"""The demo's child processes and what it reads from them: pipeline runs (``local_runner.py``,
output streamed), the model server (``python -m deployment.server``, a ServiceProcess), a
triggered run's log (``Tail``), and the server's status and metrics endpoints."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pipelines.common.names import DEFAULT_MODEL_NAME, DEFAULT_PIPELINE_NAME, REPO_ROOT
from pipelines.common.processes import ServiceProcess, stop_process
from pipelines.demo.options import DemoOptions, Paths
from pipelines.demo.report import Steps


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1"})
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def runner_args(options: DemoOptions, paths: Paths) -> tuple[str, ...]:
    """The ``local_runner.py`` flags both runs share (the monitor passes them to the trigger)."""
    return ("--serving-dir", str(paths.serving_dir), "--model-name", DEFAULT_MODEL_NAME,
            "--train-steps", str(options.train_steps))


def pipeline_command(options: DemoOptions, paths: Paths, *extra: str) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "local_runner.py"),
            "--data", str(paths.data), "--pipeline-root", str(paths.pipeline_root),
            "--pipeline-name", DEFAULT_PIPELINE_NAME, *runner_args(options, paths), *extra]


def run_streamed(command: list[str], log_file: Path, steps: Steps) -> int:
    """Run ``command`` from the repository root, showing its output indented and keeping it in
    ``log_file``; the child never outlives this call (interrupts included)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=child_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                steps.say("| " + line.rstrip())
            return process.wait()
        finally:
            stop_process(process)


class Tail(threading.Thread):
    """Shows the lines appended to a file (a triggered run's log) until stopped."""

    def __init__(self, path: Path, steps: Steps):
        super().__init__(name="demo-tail", daemon=True)
        self.path, self.steps = path, steps
        self._stop_event = threading.Event()
        self._position = 0
        self._partial = ""

    def run(self) -> None:
        while True:
            stopping = self._stop_event.is_set()
            self._emit()
            if stopping:
                if self._partial:
                    self.steps.say("| " + self._partial)
                return
            self._stop_event.wait(0.5)

    def _emit(self) -> None:
        try:
            with self.path.open() as f:
                f.seek(self._position)
                text = f.read()
                self._position = f.tell()
        except FileNotFoundError:
            return
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.steps.say("| " + line)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def model_server(paths: Paths, port: int, ready_timeout: float) -> ServiceProcess:
    """``python -m deployment.server`` on 127.0.0.1:``port`` serving the demo's model folder,
    request log on; not started yet. Its own session: a Ctrl-C reaches the demo only, which
    then stops the server."""
    command = [sys.executable, "-m", "deployment.server",
               "--model-base-path", str(paths.model_dir),
               "--model-name", DEFAULT_MODEL_NAME, "--host", "127.0.0.1",
               "--port", str(port), "--grpc-port", "off", "--poll-seconds", "1",
               "--request-log-dir", str(paths.request_log),
               "--request-log-roll-seconds", "1", "--log-level", "warning"]
    return ServiceProcess(command, url=f"http://127.0.0.1:{port}",
                          log_file=paths.logs / "server.log", ready_path="/readyz",
                          env=child_env(), name="the server (python -m deployment.server)",
                          ready_timeout=ready_timeout, own_session=True)


def get_json(client: Any, url: str) -> tuple[int, Any]:
    import httpx

    try:
        response = client.get(url)
    except httpx.HTTPError:
        return 0, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def version_states(client: Any, url: str) -> dict[int, str]:
    """version -> state (AVAILABLE, LOADING, ...) from TF Serving's model status API."""
    code, body = get_json(client, f"{url}/v1/models/{DEFAULT_MODEL_NAME}")
    if code != 200 or not isinstance(body, dict):
        return {}
    return {int(s["version"]): s["state"] for s in body.get("model_version_status", [])}


def logged_records(client: Any, url: str) -> int:
    """Records the server has written to its request log (Prometheus counter)."""
    import httpx

    try:
        text = client.get(f"{url}/metrics").text
    except httpx.HTTPError:
        return -1
    total = 0.0
    for line in text.splitlines():
        if line.startswith(("clickflow_request_log_records_total ",
                            "clickflow_request_log_dropped_total{")):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)
