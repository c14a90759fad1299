"""``python -m pipelines.demo``: the whole continuous-training loop on one machine.

serve -> normal traffic -> drifted traffic -> delayed labels -> the monitor flags drift and a
falling live AUC -> it ingests the labelled traffic as a new span and retrains -> the Evaluator
blesses the new model -> the server hot-loads it -> live AUC recovers.

Every part is the real one: ``local_runner.py`` (subprocess), ``python -m deployment.server``
(subprocess on a free 127.0.0.1 port), the traffic simulator, and the monitor with
``--trigger local``. Everything is written under one folder (``--workdir``, marked as a demo
folder), so the demo never touches workspace/pipeline_root or the served models of a real run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from models.bootstrap import bootstrap
from pipelines.common.errors import ClickflowError
from pipelines.common.names import DEFAULT_MODEL_NAME, DEFAULT_PIPELINE_NAME, REPO_ROOT

MARKER = ".clickflow-demo"
SUMMARY_FILE = "demo_summary.json"
DRIFT = "both"  # the features move AND the click mechanism changes
STEPS = 10
MIN_ROWS, MIN_TRAIN_ROWS = 200, 500
LABEL_DELAY = timedelta(seconds=1)  # labelled_at = sent + this; labels are delivered later
_INDENT = "      "


class DemoError(ClickflowError, RuntimeError):
    """A step that could not complete; the message says which step and why."""


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    workdir: Path
    rows: int = 2000  # traffic rows per phase
    train_rows: int = 2000  # rows of the generated span the first model is trained on
    train_steps: int = 300
    seed: int = 7
    port: int = 0  # 0: a free port
    fresh: bool = False
    batch_size: int = 16  # instances per :predict request
    ready_timeout: float = 240.0  # server start, TensorFlow import included
    load_timeout: float = 180.0  # hot-load of the retrained version

    def __post_init__(self) -> None:
        if self.rows < MIN_ROWS:
            raise ValueError(f"--rows must be at least {MIN_ROWS} (the monitor needs that many "
                             f"requests per window), got {self.rows}")
        if self.train_rows < MIN_TRAIN_ROWS:
            raise ValueError(f"--train-rows must be at least {MIN_TRAIN_ROWS}, got "
                             f"{self.train_rows}")
        if self.train_steps < 1:
            raise ValueError(f"--train-steps must be at least 1, got {self.train_steps}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be 0 (a free port) or 1-65535, got {self.port}")


@dataclasses.dataclass(frozen=True)
class Paths:
    """The demo folder's layout."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def pipeline_root(self) -> Path:
        return self.root / "pipeline_root"

    @property
    def serving_dir(self) -> Path:
        return self.root / "serving_model"

    @property
    def model_dir(self) -> Path:
        return self.serving_dir / DEFAULT_MODEL_NAME

    @property
    def request_log(self) -> Path:
        return self.root / "request_log"

    @property
    def labels_inbox(self) -> Path:  # labels the simulator knows but that have not arrived
        return self.root / "labels_pending"

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def monitoring(self) -> Path:
        return self.root / "monitoring"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def prepare_workdir(root: Path, *, fresh: bool) -> Paths:
    """A new or empty folder becomes a demo folder; an earlier demo folder is deleted only with
    ``fresh``; any other folder is refused (the demo never deletes what it did not create)."""
    root = root.resolve()
    marker = root / MARKER
    if root.exists() and not root.is_dir():
        raise DemoError(f"--workdir {root}: exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        if not marker.is_file():
            raise DemoError(
                f"--workdir {root}: the folder is not empty and is not a demo folder (it has no "
                f"{MARKER} file); refusing to touch it. Give a new or empty folder")
        if not fresh:
            raise DemoError(
                f"--workdir {root}: holds an earlier demo run ({marker.read_text().strip()}); "
                "pass --fresh to delete it and start over")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"clickflow demo started {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} "
                      "UTC; `python -m pipelines.demo --fresh` deletes this folder\n")
    return Paths(root)


@dataclasses.dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def judged_window(before: datetime, between: datetime, after: datetime) -> Window:
    """The window to judge the traffic sent in [between, after), chosen so that the monitor's
    previous window (same length, ending at ``between``) covers all of [before, between)."""
    length = max(after - between, between - before) + timedelta(milliseconds=1)
    return Window(between, between + length)


@dataclasses.dataclass
class VersionFacts:
    version: int
    trained_on: str
    eval_auc: float | None
    live_auc_normal: float | None = None
    live_auc_drifted: float | None = None


@dataclasses.dataclass
class DemoFacts:
    """What the demo measured; ``summary_lines`` turns it into the closing table."""

    versions: list[VersionFacts] = dataclasses.field(default_factory=list)
    drift_breaches: list[str] = dataclasses.field(default_factory=list)
    skew_breaches: list[str] = dataclasses.field(default_factory=list)
    decision: str | None = None
    decision_after: str | None = None
    reasons: list[str] = dataclasses.field(default_factory=list)
    retrain_run_id: str | None = None
    trigger_reason: str | None = None
    mlmd_run_context: str | None = None
    baseline_auc_new_eval: float | None = None  # the old model on the retraining's eval split
    best_auc_normal: float | None = None
    best_auc_drifted: float | None = None
    loaded_version: int | None = None
    step_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    server: dict[str, Any] = dataclasses.field(default_factory=dict)
    completed: bool = False


def _auc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def summary_lines(facts: DemoFacts) -> list[str]:
    """The closing summary: one row per model version, the ceiling, the signals and the run."""
    header = ("version", "trained on", "eval AUC", "live AUC normal", "live AUC drifted")
    rows = [(str(v.version), v.trained_on, _auc(v.eval_auc), _auc(v.live_auc_normal),
             _auc(v.live_auc_drifted)) for v in facts.versions]
    rows.append(("best possible", "(true click probability)", "", _auc(facts.best_auc_normal),
                 _auc(facts.best_auc_drifted)))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(facts.versions) >= 2:
        old, new = facts.versions[0], facts.versions[-1]
        if old.live_auc_drifted is not None and new.live_auc_drifted is not None:
            lines.append(f"Live AUC on drifted traffic: v{old.version} {old.live_auc_drifted:.4f}"
                         f" -> v{new.version} {new.live_auc_drifted:.4f} "
                         f"({new.live_auc_drifted - old.live_auc_drifted:+.4f})")
    if len(facts.versions) >= 2 and facts.baseline_auc_new_eval is not None:
        old, new = facts.versions[0], facts.versions[-1]
        lines.append(f"Evaluator on the new eval split: v{new.version} {_auc(new.eval_auc)} vs "
                     f"the blessed baseline v{old.version} {facts.baseline_auc_new_eval:.4f}")
    lines.append("Drift (vs the normal window): " + (", ".join(facts.drift_breaches) or "none"))
    lines.append("Skew (vs training data): " + (", ".join(facts.skew_breaches) or "none"))
    lines.append(f"Decision: {facts.decision or '-'}"
                 + (f"; after retraining: {facts.decision_after}" if facts.decision_after else ""))
    lines.append(f"Retraining run: {facts.retrain_run_id or 'none'}"
                 + (f" (MLMD run context {facts.mlmd_run_context})"
                    if facts.mlmd_run_context else ""))
    lines.append(f"Trigger reason: {facts.trigger_reason or '-'}")
    if facts.step_seconds:
        total = sum(facts.step_seconds.values())
        lines.append(f"Time: {total:.0f} s (" + ", ".join(
            f"{name} {seconds:.0f} s" for name, seconds in facts.step_seconds.items()) + ")")
    return lines


class Steps:
    """Numbered step headers and their timing."""

    def __init__(self, facts: DemoFacts, out: TextIO = sys.stdout):
        self.facts, self.out = facts, out
        self._current: tuple[str, float] | None = None

    def say(self, text: str = "") -> None:
        print(f"{_INDENT}{text}" if text else "", file=self.out, flush=True)

    def begin(self, number: int, title: str, what: str) -> None:
        self.end()
        print(f"\n[{number}/{STEPS}] {title}", file=self.out, flush=True)
        self.say(what)
        self._current = (f"{number}. {title}", time.perf_counter())

    def end(self) -> None:
        if self._current is not None:
            name, began = self._current
            seconds = time.perf_counter() - began
            self.facts.step_seconds[name] = round(seconds, 1)
            self.say(f"({seconds:.1f} s)")
            self._current = None


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1"})
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


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
            _stop(process)


def _stop(process: subprocess.Popen, timeout: float = 20.0) -> int | None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ServerProcess:
    """``python -m deployment.server`` as a child process on 127.0.0.1."""

    def __init__(self, paths: Paths, port: int):
        self.paths, self.port = paths, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_file = paths.logs / "server.log"
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "deployment.server",
                "--model-base-path", str(self.paths.model_dir),
                "--model-name", DEFAULT_MODEL_NAME, "--host", "127.0.0.1",
                "--port", str(self.port), "--poll-seconds", "1",
                "--request-log-dir", str(self.paths.request_log),
                "--request-log-roll-seconds", "1", "--log-level", "warning"]

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("w") as log:
            # Its own session: a Ctrl-C reaches the demo only, which then stops the server.
            self.process = subprocess.Popen(self.command(), cwd=REPO_ROOT, env=child_env(),
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise DemoError(f"the server exited (status {code}); the end of {self.log_file}:\n"
                            f"{_log_tail(self.log_file)}")

    def stop(self) -> int | None:
        return None if self.process is None else _stop(self.process)


def wait_for(condition: Callable[[], Any], *, timeout: float, interval: float, what: str,
             alive: Callable[[], None] = lambda: None) -> Any:
    """Poll ``condition`` until it returns something truthy; DemoError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        alive()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _get_json(client: Any, url: str) -> tuple[int, Any]:
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
    code, body = _get_json(client, f"{url}/v1/models/{DEFAULT_MODEL_NAME}")
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


def move_labels(inbox: Path, labels: Path) -> int:
    """Deliver the pending label files (the clicks became known); the number of labels."""
    import pyarrow.parquet as pq

    labels.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(inbox.glob("part-*.parquet")):
        count += pq.read_metadata(path).num_rows
        path.replace(labels / path.name)
    return count


def true_auc(rows: int, seed: int, drift: Any, start: datetime) -> float:
    """AUC of the generator's true click probability on the traffic it generated: the best
    any model can reach on it."""
    import numpy as np
    import pyarrow as pa

    from pipelines.common.metrics import roc_auc
    from pipelines.data import generator as dg
    from pipelines.monitoring.simulate import traffic

    table = pa.Table.from_batches(list(traffic(rows, seed, drift, start)))
    columns = {name: table[name].to_numpy() for name in (*dg.COEFFICIENTS, "Male")}
    probability = (dg.click_probability(columns) if drift is None
                   else dg.drifted_click_probability(columns, drift))
    return roc_auc(np.asarray(table["ClickedOnAd"].to_numpy()), probability)


def baseline_auc(summary: dict[str, Any]) -> float | None:
    """The baseline model's AUC in a run's Evaluator output (candidate AUC minus TFMA's
    ``auc_diff``), or None when the run had no baseline."""
    from pipelines.metadata import runs as run_summary

    uri = (summary.get("artifacts") or {}).get("Evaluator.evaluation")
    if not uri:
        return None
    overall, _ = run_summary.evaluation_metrics(uri)
    if "auc" not in overall or "auc_diff" not in overall:
        return None
    return overall["auc"] - overall["auc_diff"]


class Demo:
    """One run of the loop; ``run`` does the steps, ``close`` stops the server."""

    def __init__(self, options: DemoOptions, out: TextIO = sys.stdout):
        self.options = options
        self.facts = DemoFacts()
        self.steps = Steps(self.facts, out)
        self.paths: Paths | None = None
        self.server: ServerProcess | None = None
        self.client: Any = None
        self.logged = 0  # records the server should have written so far
        self._phase = 0
        self._labels_due = self._now()  # the newest pending label's labelled_at

    # Helpers -------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.now(timezone.utc)

    def _pipeline_command(self, *extra: str) -> list[str]:
        assert self.paths is not None
        return [sys.executable, str(REPO_ROOT / "local_runner.py"),
                "--data", str(self.paths.data), "--pipeline-root", str(self.paths.pipeline_root),
                "--pipeline-name", DEFAULT_PIPELINE_NAME, *self._runner_args(), *extra]

    def _runner_args(self) -> tuple[str, ...]:
        assert self.paths is not None
        return ("--serving-dir", str(self.paths.serving_dir), "--model-name", DEFAULT_MODEL_NAME,
                "--train-steps", str(self.options.train_steps))

    def _summary(self) -> dict[str, Any]:
        from pipelines.local import summary

        assert self.paths is not None
        found = summary.read_summary(self.paths.pipeline_root)
        if found is None:
            raise DemoError(f"no run_summary.json in {self.paths.pipeline_root}")
        return found

    def _send(self, drift: Any, label: str) -> tuple[datetime, datetime, float]:
        """Send one phase of traffic; (first send time, last response time, its true AUC)."""
        from pipelines.monitoring.simulate import simulate

        assert self.paths is not None and self.server is not None
        self._phase += 1
        seed = self.options.seed * 1000 + self._phase
        event_start = self._now().replace(tzinfo=None, microsecond=0)
        began = self._now()
        result = simulate(self.client, url=self.server.url, model_name=DEFAULT_MODEL_NAME,
                          rows=self.options.rows, seed=seed, drift=drift,
                          labels_dir=self.paths.labels_inbox, batch_size=self.options.batch_size,
                          label_delay=LABEL_DELAY, clock=self._now,
                          event_start=event_start)
        ended = self._now()
        self._labels_due = ended + LABEL_DELAY
        if result.failed_requests:
            raise DemoError(f"{result.failed_requests} of {result.requests} {label} request(s) "
                            f"failed: {'; '.join(result.errors)}")
        rate = result.rows / max((ended - began).total_seconds(), 1e-6)
        self.steps.say(f"sent {result.rows:,} {label} rows in {result.requests:,} :predict "
                       f"requests of {self.options.batch_size} to {self.server.url} "
                       f"({rate:,.0f} rows/s), each with its own X-Request-Id")
        self.logged += result.rows
        wait_for(lambda: logged_records(self.client, self.server.url) >= self.logged,
                 timeout=60, interval=0.2, what="the server to write its request log",
                 alive=self.server.check_alive)
        self.steps.say(f"the server logged every prediction to {self.paths.request_log}")
        return began, ended, true_auc(self.options.rows, seed, drift, event_start)

    def _deliver_labels(self) -> None:
        assert self.paths is not None
        # Outcomes become known LABEL_DELAY after the request; deliver none from the future.
        time.sleep(max(0.0, (self._labels_due - self._now()).total_seconds()))
        count = move_labels(self.paths.labels_inbox, self.paths.labels)
        self.steps.say(f"{count:,} label(s) arrived in {self.paths.labels} (request_id, "
                       "ClickedOnAd, labelled_at; the generator's ground truth)")

    def _monitor(self, window: Window, trigger_mode: str,
                 on_judged: Callable[[dict[str, Any], Path], None]) -> dict[str, Any]:
        from pipelines.monitoring.config import MonitorConfig, PolicyConfig
        from pipelines.monitoring.monitor import MonitorSettings, run_monitor
        from pipelines.monitoring.monitor import Window as MonitorWindow

        assert self.paths is not None
        rows = self.options.rows
        config = MonitorConfig(policy=PolicyConfig(min_requests=min(1000, rows),
                                                   min_labelled=min(500, rows // 2)))
        settings = MonitorSettings(
            log_dir=self.paths.request_log, labels_dir=self.paths.labels,
            window=MonitorWindow(window.start, window.end), out_dir=self.paths.monitoring,
            pipeline_root=self.paths.pipeline_root,
            schema_path=REPO_ROOT / "schema" / "schema.pbtxt",
            pipeline_name=DEFAULT_PIPELINE_NAME, model_name=DEFAULT_MODEL_NAME, config=config,
            trigger_mode=trigger_mode, data_dir=self.paths.data,
            runner_args=self._runner_args())
        return run_monitor(settings, now=self._now(), on_judged=on_judged).report

    def _live_by_version(self, window: Window) -> dict[int, dict[str, Any]]:
        from pipelines.common import request_log
        from pipelines.monitoring import live

        assert self.paths is not None
        table, _ = request_log.read_window(self.paths.request_log, window.start,
                                                window.end)
        labels, _ = request_log.read_labels(self.paths.labels)
        joined = live.join_labels(live.dedupe_requests(table).table, labels, self._now())
        return live.metrics_by_version(joined.table)

    def _show_judgment(self, report: dict[str, Any]) -> None:
        say = self.steps.say
        log = report["request_log"]
        say(f"window {report['window']['start']} .. {report['window']['end']}: "
            f"{log['requests']:,} request(s), {report['labels']['labelled']:,} labelled; "
            f"previous window: {report['previous_window_log']['requests']:,} request(s)")
        drift = [f"{n} {m['value']:.3f}>{m['threshold']}" for n, m in report["drift"].items()
                 if m["breached"]]
        if not report["drift"]:
            say("drift: not measured (no requests in the previous window)")
        else:
            say("drift vs the previous window: " + (", ".join(drift) or "none above threshold"))
        for version, entry in report["versions"].items():
            skew = [f"{n} {m['value']:.3f}>{m['threshold']}"
                    for n, m in entry.get("skew", {}).items() if m["breached"]]
            say(f"skew of v{version} vs its training data: "
                + (", ".join(skew) or entry.get("skew_unavailable") or "none above threshold"))
            live = entry.get("live") or {}
            if live.get("auc") is not None:
                eval_auc = entry.get("eval_auc")
                say(f"live AUC of v{version}: {live['auc']:.4f} on {live['labelled']:,} labels"
                    + (f" (its eval AUC {eval_auc:.4f})" if eval_auc is not None else "")
                    + f", accuracy {live['accuracy']:.4f}, calibration "
                    f"{live['calibration']:.2f}")
        decision = report["decision"]
        say(f"decision: {decision['action'].upper()}")
        for reason in decision["reasons"]:
            say(f"  - {reason}")

    # The steps ----------------------------------------------------------------------------

    def run(self) -> int:
        from pipelines.data import generator as dg

        o, steps, facts = self.options, self.steps, self.facts
        self.paths = prepare_workdir(o.workdir, fresh=o.fresh)
        print(f"clickflow drift demo in {self.paths.root} (traffic {o.rows:,} rows per phase, "
              f"training {o.train_rows:,} rows, {o.train_steps} steps, seed {o.seed})",
              file=steps.out, flush=True)
        drift = dg.DRIFT_PRESETS[DRIFT]
        first = self._train_first_model()
        self._start_server()

        steps.begin(3, "Normal traffic", "send generated rows like the training data")
        t0, t1, facts.best_auc_normal = self._send(None, "normal")
        steps.begin(4, "Drifted traffic",
                    f"the world changes (preset '{DRIFT}'): users older, less time on site, more "
                    "men, three countries more frequent, AND a different click mechanism")
        _, t2, facts.best_auc_drifted = self._send(drift, "drifted")

        steps.begin(5, "Labels arrive", "the delayed click outcomes of both phases are delivered")
        self._deliver_labels()
        old = facts.versions[0]
        old.live_auc_normal = self._live_by_version(Window(t0, t1)).get(old.version, {}).get(
            "auc")
        steps.say(f"live AUC of v{old.version} on the normal traffic: "
                  f"{_auc(old.live_auc_normal)} (best possible {facts.best_auc_normal:.4f})")

        new_version = self._monitor_and_retrain(judged_window(t0, t1, t2), first)
        self._wait_for_hot_reload(new_version)
        self._judge_again(drift)

        steps.end()
        facts.completed = True
        print(f"\n[10/{STEPS}] Summary", file=steps.out)
        print("\n".join(summary_lines(facts)), file=steps.out, flush=True)
        return 0

    def _train_first_model(self) -> dict[str, Any]:
        from pipelines.data import generator as dg

        o, paths = self.options, self.paths
        assert paths is not None
        self.steps.begin(1, "Train the first model",
                         f"generate span 1 ({o.train_rows:,} normal rows) and run the TFX "
                         "pipeline (local_runner.py)")
        self.steps.say(f"wrote {dg.write_span(paths.data, 1, o.train_rows, o.seed)}")
        log_file = paths.logs / "pipeline-1.log"
        code = run_streamed(self._pipeline_command(), log_file, self.steps)
        first = self._summary()
        if code != 0 or not first.get("pushed_model"):
            raise DemoError(f"the first pipeline run did not push a model (exit status {code}, "
                            f"blessed {first.get('blessed')}); see {log_file}")
        self.facts.versions.append(VersionFacts(
            int(Path(first["pushed_model"]).name), f"span 1 ({o.train_rows:,} generated rows)",
            first.get("metrics", {}).get("auc")))
        return first

    def _start_server(self) -> None:
        import httpx

        assert self.paths is not None
        self.steps.begin(2, "Serve it",
                         "start the local TF Serving-compatible server (python -m "
                         "deployment.server) on the demo's serving folder, request log on")
        self.server = server = ServerProcess(self.paths, self.options.port or free_port())
        server.start()
        self.facts.server = {"pid": server.process.pid if server.process else None,
                             "url": server.url}
        self.client = httpx.Client(timeout=30.0)
        wait_for(lambda: _get_json(self.client, f"{server.url}/readyz")[0] == 200,
                 timeout=self.options.ready_timeout, interval=0.5,
                 what=f"{server.url}/readyz", alive=server.check_alive)
        self.steps.say(f"ready at {server.url}: serving {DEFAULT_MODEL_NAME} versions "
                       f"{sorted(version_states(self.client, server.url))} "
                       f"(log {server.log_file})")

    def _monitor_and_retrain(self, window: Window, first: dict[str, Any]) -> int:
        """Steps 6 and 7: the judgment is shown as soon as it is made, then the triggered
        run's output while it runs; the new version number."""
        steps, facts = self.steps, self.facts
        old = facts.versions[0]
        steps.begin(6, "Monitor the drifted window",
                    "TFDV drift vs the normal window and skew vs the training data, live AUC "
                    "from the labels, then the retraining policy (python -m pipelines.monitoring "
                    "run --trigger local)")
        tails: list[Tail] = []

        def on_judged(report: dict[str, Any], report_dir: Path) -> None:
            self._show_judgment(report)
            steps.say(f"report: {report_dir}")
            decision = report["decision"]
            facts.decision, facts.reasons = decision["action"], list(decision["reasons"])
            facts.drift_breaches = [n for n, m in report["drift"].items() if m["breached"]]
            facts.skew_breaches = [f"v{v}/{n}" for v, e in report["versions"].items()
                                   for n, m in e.get("skew", {}).items() if m["breached"]]
            live = report["versions"].get(str(old.version), {}).get("live") or {}
            old.live_auc_drifted = live.get("auc")
            if facts.decision == "retrain":
                steps.begin(7, "Retrain", "the monitor ingests the labelled drifted traffic as "
                            "span 2 and runs local_runner.py --trigger-reason ...")
                tails.append(Tail(report_dir / "trigger.log", steps))
                tails[-1].start()

        try:
            report = self._monitor(window, "local", on_judged)
        finally:
            for tail in tails:
                tail.stop()
        if facts.decision != "retrain":
            raise DemoError(f"the monitor decided '{facts.decision}', not to retrain: "
                            + "; ".join(facts.reasons))
        triggered = report.get("trigger") or {}
        steps.say(f"ingested {triggered.get('span_rows', 0):,} labelled requests as "
                  f"{triggered.get('span')}")
        second = self._summary()
        if triggered.get("returncode") != 0 or second.get("run_id") == first.get("run_id"):
            raise DemoError(f"the triggered run failed (exit status {triggered.get('returncode')}"
                            f"); see {triggered.get('log_file')}")
        facts.retrain_run_id = second.get("run_id")
        facts.trigger_reason = second.get("trigger_reason")
        facts.mlmd_run_context = second.get("mlmd_run_context")
        new_auc = second.get("metrics", {}).get("auc")
        facts.baseline_auc_new_eval = baseline_auc(second)
        span_names = second.get("data", {}).get("spans", [])
        steps.say(f"run {facts.retrain_run_id} on {', '.join(span_names)}: eval AUC "
                  f"{_auc(new_auc)}, the blessed baseline v{old.version} "
                  f"{_auc(facts.baseline_auc_new_eval)} on the same new eval split -> "
                  f"{'blessed' if second.get('blessed') else 'NOT blessed'}")
        steps.say(f"trigger reason recorded in run_summary.json and on MLMD run context "
                  f"{facts.mlmd_run_context}: {facts.trigger_reason!r}")
        if not second.get("pushed_model"):
            raise DemoError(
                f"the Evaluator did not bless the retrained model (eval AUC {_auc(new_auc)}, "
                f"the old model {_auc(facts.baseline_auc_new_eval)} on the same eval data); it "
                "must reach local_runner.py --min-auc and be at most --max-auc-drop below the "
                f"old model. See {triggered.get('log_file')}")
        new_version = int(Path(second["pushed_model"]).name)
        spans = ", ".join(str(int(name.rsplit("-", 1)[-1])) for name in span_names)
        facts.versions.append(VersionFacts(
            new_version, f"spans {spans} (+{triggered.get('span_rows', 0):,} labelled drifted)",
            new_auc))
        return new_version

    def _wait_for_hot_reload(self, new_version: int) -> None:
        assert self.paths is not None and self.server is not None
        server = self.server
        self.steps.begin(8, "Hot reload",
                         f"wait for the server to load version {new_version} from "
                         f"{self.paths.model_dir} (it polls the folder every second)")

        def available() -> bool:
            return version_states(self.client, server.url).get(new_version) == "AVAILABLE"

        already = available()
        wait_for(available, timeout=self.options.load_timeout, interval=0.5,
                 what=f"version {new_version} to be AVAILABLE", alive=server.check_alive)
        self.facts.loaded_version = new_version
        if already:
            self.steps.say("already loaded: the server picked it up as soon as the Pusher "
                           "wrote it, while the pipeline was finishing")
        states = version_states(self.client, server.url)
        self.steps.say(f"GET /v1/models/{DEFAULT_MODEL_NAME}: " + ", ".join(
            f"version {v} {state}" for v, state in sorted(states.items())))

    def _judge_again(self, drift: Any) -> None:
        facts = self.facts
        old, new = facts.versions[0], facts.versions[-1]
        self.steps.begin(9, "Drifted traffic again",
                         f"more drifted traffic, now answered by v{new.version}; its labels "
                         "arrive; monitor again (no trigger)")
        start, end, _ = self._send(drift, "drifted")
        self._deliver_labels()
        after: dict[str, Any] = {}

        def on_judged(report: dict[str, Any], report_dir: Path) -> None:
            self._show_judgment(report)
            after.update(report)

        self._monitor(judged_window(start, start, end), "none", on_judged)
        breached = after["decision"]["breached"]
        facts.decision_after = after["decision"]["action"] + (
            f" ({', '.join(breached)} breached)" if breached else "")
        new.live_auc_drifted = (after["versions"].get(str(new.version), {}).get("live")
                                or {}).get("auc")
        self.steps.say(f"live AUC on drifted traffic: v{old.version} "
                       f"{_auc(old.live_auc_drifted)} -> v{new.version} "
                       f"{_auc(new.live_auc_drifted)} (best possible "
                       f"{_auc(facts.best_auc_drifted)})")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.server is not None and self.server.process is not None:
            code = self.server.stop()
            self.facts.server["exit_code"] = code
            self.steps.say(f"server stopped (pid {self.server.process.pid}, exit status {code})")
        if self.paths is not None and self.paths.root.is_dir():
            (self.paths.root / SUMMARY_FILE).write_text(
                json.dumps(dataclasses.asdict(self.facts), indent=2, default=str) + "\n")


def build_parser() -> argparse.ArgumentParser:
    demo = argparse.ArgumentParser(
        prog="python -m pipelines.demo", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train a model, serve it, send normal then drifted traffic, deliver the "
                    "labels, let the monitor detect the drift and the falling live AUC and "
                    "retrain on the labelled traffic, wait for the server to hot-load the "
                    "blessed model, and show that live AUC recovers. Everything goes to "
                    "WORKDIR; the server is stopped at the end (also on Ctrl-C).")
    demo.add_argument("--workdir", type=Path, default=REPO_ROOT / "workspace" / "demo",
                      help="the demo's own folder (data, pipeline root, models, logs)")
    demo.add_argument("--fresh", action="store_true",
                      help="delete an earlier demo run in WORKDIR and start over")
    demo.add_argument("--rows", type=int, default=DemoOptions.rows,
                      help="traffic rows per phase (normal, drifted, drifted again)")
    demo.add_argument("--train-rows", type=int, default=DemoOptions.train_rows,
                      help="generated rows the first model is trained on")
    demo.add_argument("--train-steps", type=int, default=DemoOptions.train_steps,
                      help="Trainer steps of both pipeline runs")
    demo.add_argument("--seed", type=int, default=DemoOptions.seed)
    demo.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    return demo


def cli(argv: list[str] | None = None) -> int:
    """``python -m pipelines.demo [flags]``."""
    return main(build_parser().parse_args(argv))


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
    try:
        options = DemoOptions(workdir=args.workdir, rows=args.rows, train_rows=args.train_rows,
                              train_steps=args.train_steps, seed=args.seed, port=args.port,
                              fresh=args.fresh)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    bootstrap()
    import logging

    for noisy in ("tensorflow", "absl"):  # TFMA's deprecation and "no plots" warnings
        logging.getLogger(noisy).setLevel(logging.ERROR)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # finally blocks run on SIGTERM
    demo = Demo(options)
    code = 1
    try:
        code = demo.run()
    except DemoError as err:
        demo.steps.end()
        print(f"\nerror: {err}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        demo.steps.end()
        print("\ninterrupted", file=sys.stderr, flush=True)
        code = 130
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            demo.close()
        signal.signal(signal.SIGTERM, previous)
    if not demo.facts.completed and demo.facts.versions:
        print("\nWhat the demo measured before it stopped:\n"
              + "\n".join(summary_lines(demo.facts)), flush=True)
    if demo.paths is not None:
        print(f"Everything is in {demo.paths.root} ({SUMMARY_FILE}, logs/, monitoring/)",
              flush=True)
    return code
