"""The benchmark's flags (``parse_args``), its settings and the targets it checks."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DESCRIPTION = ("Local serving speed: latency, throughput and a hot swap under load, in one "
               "bounded run.")

MODEL = "clickflow"
PREDICT = f"/v1/models/{MODEL}:predict"
HEADERS = {"content-type": "application/json"}
# Issue 15's targets on our 2-core machine.
TARGET_P50_MS = 1.5
TARGET_P99_MS = 5.0
TARGET_GRPC_P50_MS = 1.0
TARGET_PREDICTIONS_PER_S = 40_000.0
TARGET_WORKERS_RATIO = 1.6  # --workers 2 over --workers 1, 8 single-instance clients


@dataclasses.dataclass(frozen=True)
class Settings:
    requests: int
    warmup: int
    batch_size: int
    batch_clients: int
    batch_requests: int
    clients: int
    concurrent_requests: int
    swap_clients: int
    swap_before_s: float
    swap_after_s: float
    phase_limit_s: float
    time_limit_s: float
    request_log: bool
    batching: bool
    poll_seconds: float
    profile_server: Path | None
    json_path: Path | None
    load_client: str
    workers_seconds: float
    workers_rounds: int


# The bounded numbers of a run: flag, type, default, help (every one must be > 0).
NUMBER_FLAGS: tuple[tuple[str, type, float, str], ...] = (
    ("--requests", int, 2000, "sequential single-instance requests measured (2000)"),
    ("--warmup", int, 200, "unmeasured requests first (200)"),
    ("--batch-size", int, 250, "instances per batched request"),
    ("--batch-clients", int, 4, "concurrent batch clients (4)"),
    ("--batch-requests", int, 200, "batched requests in all (200)"),
    ("--clients", int, 8, "concurrent single-instance clients (8)"),
    ("--concurrent-requests", int, 4000, "concurrent single-instance requests in all (4000)"),
    ("--swap-clients", int, 4, "clients during the swap (4)"),
    ("--swap-before", float, 3.0, "seconds of load before version 2 is pushed (3)"),
    ("--swap-after", float, 3.0, "seconds of load after version 2 answers (3)"),
    ("--workers-seconds", float, 6.0,
     "seconds of load on each server of the --workers 1 vs 2 phase (6)"),
    ("--workers-rounds", int, 2,
     "servers of each worker count in that phase, alternating 1, 2, 2, 1 (2)"),
    ("--phase-limit", float, 60.0, "most seconds any one phase may take (60)"),
    ("--time-limit", float, 600.0,
     "most seconds for the whole run; later phases are skipped past it (600)"),
)


def parse_args(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=DESCRIPTION)

    def positive(kind: type) -> Callable[[str], Any]:
        def parse(text: str) -> Any:
            try:
                value = kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected a {kind.__name__}, got {text!r}") from None
            if value <= 0:
                raise argparse.ArgumentTypeError(f"expected a value > 0, got {text}")
            return value
        return parse

    add = parser.add_argument
    for flag, kind, default, text in NUMBER_FLAGS:
        add(flag, type=positive(kind), default=default, help=text)
    add("--no-request-log", dest="request_log", action="store_false",
        help="start the server with --no-request-log (default: request log on, as deployed)")
    add("--batching", action=argparse.BooleanOptionalAction, default=True,
        help="the server's --batching / --no-batching (default on)")
    add("--poll-seconds", type=positive(float), default=2.0,
        help="the server's --poll-seconds (2, its default)")
    add("--profile-server", type=Path, default=None,
        help="run the server under cProfile and write its stats to this file")
    add("--json", dest="json_path", type=Path, default=None,
        help="also write the results to this JSON file")
    add("--load-client", choices=("stdlib", "httpx"), default="stdlib",
        help="client of the concurrent and swap phases: http.client (default; a quarter of "
             "httpx's CPU per request, which the server's cores would otherwise pay) or httpx")
    args = parser.parse_args(argv)
    return Settings(
        requests=args.requests, warmup=args.warmup, batch_size=args.batch_size,
        batch_clients=args.batch_clients, batch_requests=args.batch_requests,
        clients=args.clients, concurrent_requests=args.concurrent_requests,
        swap_clients=args.swap_clients, swap_before_s=args.swap_before,
        swap_after_s=args.swap_after, phase_limit_s=args.phase_limit,
        time_limit_s=args.time_limit, request_log=args.request_log, batching=args.batching,
        poll_seconds=args.poll_seconds, profile_server=args.profile_server,
        json_path=args.json_path, load_client=args.load_client,
        workers_seconds=args.workers_seconds, workers_rounds=args.workers_rounds)
