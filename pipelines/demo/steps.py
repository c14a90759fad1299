"""The demo's steps, one function each, in the order ``cli.run`` calls them.

Each step prints its header and what it sees through ``Steps`` and records what it measured in
``DemoFacts`` as soon as it knows it, so a demo that stops half-way still reports what it got;
it returns what a later step needs. A step that cannot complete raises DemoError (or the server
helper's ServiceError) saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.common.names import DEFAULT_MODEL_NAME
from pipelines.common.processes import ServiceProcess
from pipelines.demo import children, measure
from pipelines.demo.options import DRIFT, DemoError, DemoOptions, Paths
from pipelines.demo.report import DemoFacts, Steps, VersionFacts, auc_text, show_judgment
from pipelines.demo.traffic import Phase, Traffic, now


def run_summary(paths: Paths) -> dict[str, Any]:
    """The pipeline root's run_summary.json (the last run)."""
    from pipelines.local import summary

    found = summary.read_summary(paths.pipeline_root)
    if found is None:
        raise DemoError(f"no run_summary.json in {paths.pipeline_root}")
    return found


def train_first_model(options: DemoOptions, paths: Paths, steps: Steps,
                      facts: DemoFacts) -> str | None:
    """Step 1: span 1 and a first pipeline run that pushes a model; that run's id."""
    from pipelines.data import generator as dg

    o = options
    steps.begin(1, "Train the first model",
                f"generate span 1 ({o.train_rows:,} normal rows) and run the TFX "
                "pipeline (local_runner.py)")
    steps.say(f"wrote {dg.write_span(paths.data, 1, o.train_rows, o.seed)}")
    log_file = paths.logs / "pipeline-1.log"
    code = children.run_streamed(children.pipeline_command(o, paths), log_file, steps)
    first = run_summary(paths)
    if code != 0 or not first.get("pushed_model"):
        raise DemoError(f"the first pipeline run did not push a model (exit status {code}, "
                        f"blessed {first.get('blessed')}); see {log_file}")
    facts.versions.append(VersionFacts(
        int(Path(first["pushed_model"]).name), f"span 1 ({o.train_rows:,} generated rows)",
        first.get("metrics", {}).get("auc")))
    return first.get("run_id")


def start_server(server: ServiceProcess, client: Any, steps: Steps, facts: DemoFacts) -> None:
    """Step 2: start the model server and wait until it serves the first version."""
    steps.begin(2, "Serve it",
                "start the local TF Serving-compatible server (python -m "
                "deployment.server) on the demo's serving folder, request log on")
    server.start()
    facts.server = {"pid": server.pid, "url": server.url}
    server.wait_ready()
    steps.say(f"ready at {server.url}: serving {DEFAULT_MODEL_NAME} versions "
              f"{sorted(children.version_states(client, server.url))} "
              f"(log {server.log_file})")


def normal_traffic(traffic: Traffic, steps: Steps, facts: DemoFacts) -> Phase:
    """Step 3: rows like the training data."""
    steps.begin(3, "Normal traffic", "send generated rows like the training data")
    phase = traffic.send(None, "normal")
    facts.best_auc_normal = phase.best_auc
    return phase


def drifted_traffic(traffic: Traffic, drift: Any, steps: Steps, facts: DemoFacts) -> Phase:
    """Step 4: the world changes."""
    steps.begin(4, "Drifted traffic",
                f"the world changes (preset '{DRIFT}'): users older, less time on site, more "
                "men, three countries more frequent, AND a different click mechanism")
    phase = traffic.send(drift, "drifted")
    facts.best_auc_drifted = phase.best_auc
    return phase


def labels_arrive(traffic: Traffic, normal: Phase, steps: Steps, facts: DemoFacts) -> None:
    """Step 5: the labels of both phases; the first model's live AUC on the normal phase."""
    steps.begin(5, "Labels arrive", "the delayed click outcomes of both phases are delivered")
    traffic.deliver_labels()
    old = facts.versions[0]
    window = measure.Window(normal.began, normal.ended)
    old.live_auc_normal = measure.live_by_version(traffic.paths, window, now()).get(
        old.version, {}).get("auc")
    steps.say(f"live AUC of v{old.version} on the normal traffic: "
              f"{auc_text(old.live_auc_normal)} (best possible {facts.best_auc_normal:.4f})")


def _record_judgment(report: dict[str, Any], old: VersionFacts, facts: DemoFacts) -> None:
    decision = report["decision"]
    facts.decision, facts.reasons = decision["action"], list(decision["reasons"])
    facts.drift_breaches = [n for n, m in report["drift"].items() if m["breached"]]
    facts.skew_breaches = [f"v{v}/{n}" for v, e in report["versions"].items()
                           for n, m in e.get("skew", {}).items() if m["breached"]]
    live = report["versions"].get(str(old.version), {}).get("live") or {}
    old.live_auc_drifted = live.get("auc")


def monitor_and_retrain(options: DemoOptions, paths: Paths, window: measure.Window,
                        first_run_id: str | None, steps: Steps, facts: DemoFacts) -> int:
    """Steps 6 and 7: the judgment is shown as soon as it is made, then the triggered run's
    output while it runs; the new version number."""
    old = facts.versions[0]
    steps.begin(6, "Monitor the drifted window",
                "TFDV drift vs the normal window and skew vs the training data, live AUC "
                "from the labels, then the retraining policy (python -m pipelines.monitoring "
                "run --trigger local)")
    tails: list[children.Tail] = []

    def on_judged(report: dict[str, Any], report_dir: Path) -> None:
        show_judgment(report, steps)
        steps.say(f"report: {report_dir}")
        _record_judgment(report, old, facts)
        if facts.decision == "retrain":
            steps.begin(7, "Retrain", "the monitor ingests the labelled drifted traffic as "
                        "span 2 and runs local_runner.py --trigger-reason ...")
            tails.append(children.Tail(report_dir / "trigger.log", steps))
            tails[-1].start()

    try:
        report = measure.monitor(options, paths, window, "local", on_judged, now())
    finally:
        for tail in tails:
            tail.stop()
    if facts.decision != "retrain":
        raise DemoError(f"the monitor decided '{facts.decision}', not to retrain: "
                        + "; ".join(facts.reasons))
    triggered = report.get("trigger") or {}
    steps.say(f"ingested {triggered.get('span_rows', 0):,} labelled requests as "
              f"{triggered.get('span')}")
    second = run_summary(paths)
    if triggered.get("returncode") != 0 or second.get("run_id") == first_run_id:
        raise DemoError(f"the triggered run failed (exit status {triggered.get('returncode')}"
                        f"); see {triggered.get('log_file')}")
    facts.retrain_run_id = second.get("run_id")
    facts.trigger_reason = second.get("trigger_reason")
    facts.mlmd_run_context = second.get("mlmd_run_context")
    new_auc = second.get("metrics", {}).get("auc")
    facts.baseline_auc_new_eval = measure.baseline_auc(second)
    span_names = second.get("data", {}).get("spans", [])
    steps.say(f"run {facts.retrain_run_id} on {', '.join(span_names)}: eval AUC "
              f"{auc_text(new_auc)}, the blessed baseline v{old.version} "
              f"{auc_text(facts.baseline_auc_new_eval)} on the same new eval split -> "
              f"{'blessed' if second.get('blessed') else 'NOT blessed'}")
    steps.say(f"trigger reason recorded in run_summary.json and on MLMD run context "
              f"{facts.mlmd_run_context}: {facts.trigger_reason!r}")
    if not second.get("pushed_model"):
        raise DemoError(
            f"the Evaluator did not bless the retrained model (eval AUC {auc_text(new_auc)}, "
            f"the old model {auc_text(facts.baseline_auc_new_eval)} on the same eval data); it "
            "must reach local_runner.py --min-auc and be at most --max-auc-drop below the "
            f"old model. See {triggered.get('log_file')}")
    new_version = int(Path(second["pushed_model"]).name)
    spans = ", ".join(str(int(name.rsplit("-", 1)[-1])) for name in span_names)
    facts.versions.append(VersionFacts(
        new_version, f"spans {spans} (+{triggered.get('span_rows', 0):,} labelled drifted)",
        new_auc))
    return new_version


def wait_for_hot_reload(server: ServiceProcess, client: Any, paths: Paths, new_version: int,
                        timeout: float, steps: Steps, facts: DemoFacts) -> None:
    """Step 8: the server loads the new version from the folder it polls."""
    steps.begin(8, "Hot reload",
                f"wait for the server to load version {new_version} from "
                f"{paths.model_dir} (it polls the folder every second)")

    def available() -> bool:
        return children.version_states(client, server.url).get(new_version) == "AVAILABLE"

    already = available()
    server.wait_until(available, timeout=timeout, interval=0.5,
                      what=f"version {new_version} to be AVAILABLE")
    facts.loaded_version = new_version
    if already:
        steps.say("already loaded: the server picked it up as soon as the Pusher "
                  "wrote it, while the pipeline was finishing")
    states = children.version_states(client, server.url)
    steps.say(f"GET /v1/models/{DEFAULT_MODEL_NAME}: " + ", ".join(
        f"version {v} {state}" for v, state in sorted(states.items())))


def judge_again(traffic: Traffic, drift: Any, steps: Steps, facts: DemoFacts) -> None:
    """Step 9: drifted traffic answered by the new version, its labels, a monitor run that
    triggers nothing; the new version's live AUC."""
    old, new = facts.versions[0], facts.versions[-1]
    steps.begin(9, "Drifted traffic again",
                f"more drifted traffic, now answered by v{new.version}; its labels "
                "arrive; monitor again (no trigger)")
    phase = traffic.send(drift, "drifted")
    traffic.deliver_labels()
    after: dict[str, Any] = {}

    def on_judged(report: dict[str, Any], report_dir: Path) -> None:
        show_judgment(report, steps)
        after.update(report)

    window = measure.judged_window(phase.began, phase.began, phase.ended)
    measure.monitor(traffic.options, traffic.paths, window, "none", on_judged, now())
    breached = after["decision"]["breached"]
    facts.decision_after = after["decision"]["action"] + (
        f" ({', '.join(breached)} breached)" if breached else "")
    new.live_auc_drifted = (after["versions"].get(str(new.version), {}).get("live")
                            or {}).get("auc")
    steps.say(f"live AUC on drifted traffic: v{old.version} "
              f"{auc_text(old.live_auc_drifted)} -> v{new.version} "
              f"{auc_text(new.live_auc_drifted)} (best possible "
              f"{auc_text(facts.best_auc_drifted)})")
