"""The demo's traffic: phases of generated rows sent to the server by the simulator, and their
click outcomes delivered later, as labels arrive in production."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipelines.common.names import DEFAULT_MODEL_NAME
from pipelines.common.processes import ServiceProcess
from pipelines.demo.children import logged_records
from pipelines.demo.measure import true_auc
from pipelines.demo.options import LABEL_DELAY, DemoError, DemoOptions, Paths
from pipelines.demo.report import Steps


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclasses.dataclass(frozen=True)
class Phase:
    """One phase of traffic: first send time, last response time, the best AUC possible."""

    began: datetime
    ended: datetime
    best_auc: float


def move_labels(inbox: Path, labels: Path) -> int:
    """Deliver the pending label files (the clicks became known); the number of labels."""
    from pipelines.common import safe_parquet

    labels.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(inbox.glob("part-*.parquet")):
        count += safe_parquet.read_metadata(path).num_rows
        path.replace(labels / path.name)
    return count


class Traffic:
    """Sends phases to ``server`` through ``client``; each phase has its own seed, and the
    labels of everything sent wait in the inbox until ``deliver_labels``."""

    def __init__(self, options: DemoOptions, paths: Paths, server: ServiceProcess, client: Any,
                 steps: Steps):
        self.options, self.paths, self.server, self.client = options, paths, server, client
        self.steps = steps
        self.logged = 0  # records the server should have written so far
        self._phase = 0
        self._labels_due = now()  # the newest pending label's labelled_at

    def send(self, drift: Any, label: str) -> Phase:
        from pipelines.monitoring.simulate import simulate

        options, server = self.options, self.server
        self._phase += 1
        seed = options.seed * 1000 + self._phase
        event_start = now().replace(tzinfo=None, microsecond=0)
        began = now()
        result = simulate(self.client, url=server.url, model_name=DEFAULT_MODEL_NAME,
                          rows=options.rows, seed=seed, drift=drift,
                          labels_dir=self.paths.labels_inbox, batch_size=options.batch_size,
                          label_delay=LABEL_DELAY, clock=now, event_start=event_start)
        ended = now()
        self._labels_due = ended + LABEL_DELAY
        if result.failed_requests:
            raise DemoError(f"{result.failed_requests} of {result.requests} {label} request(s) "
                            f"failed: {'; '.join(result.errors)}")
        rate = result.rows / max((ended - began).total_seconds(), 1e-6)
        self.steps.say(f"sent {result.rows:,} {label} rows in {result.requests:,} :predict "
                       f"requests of {options.batch_size} to {server.url} "
                       f"({rate:,.0f} rows/s), each with its own X-Request-Id")
        self.logged += result.rows
        server.wait_until(lambda: logged_records(self.client, server.url) >= self.logged,
                          timeout=60, interval=0.2, what="the server to write its request log")
        self.steps.say(f"the server logged every prediction to {self.paths.request_log}")
        return Phase(began, ended, true_auc(options.rows, seed, drift, event_start))

    def deliver_labels(self) -> int:
        # Outcomes become known LABEL_DELAY after the request; deliver none from the future.
        time.sleep(max(0.0, (self._labels_due - now()).total_seconds()))
        count = move_labels(self.paths.labels_inbox, self.paths.labels)
        self.steps.say(f"{count:,} label(s) arrived in {self.paths.labels} (request_id, "
                       "ClickedOnAd, labelled_at; the generator's ground truth)")
        return count
