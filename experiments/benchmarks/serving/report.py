"""The benchmark's report: the machine it ran on, the markdown table with the targets, and the
lines under it."""

from __future__ import annotations

import os
import platform
from typing import Any

from experiments.benchmarks.serving.settings import (
    TARGET_GRPC_P50_MS,
    TARGET_P50_MS,
    TARGET_P99_MS,
    TARGET_PREDICTIONS_PER_S,
    TARGET_WORKERS_RATIO,
    Settings,
)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}


def report(results: dict[str, Any], settings: Settings) -> tuple[str, bool]:
    rows: list[tuple[str, str, str, bool | None]] = []
    base = results.get("in_process", {})
    if base:
        rows.append(("in-process baseline: signature call, 1 instance, p50 / p99",
                     f"{base['call']['p50_ms']:.2f} / {base['call']['p99_ms']:.2f} ms", "-",
                     None))
        rows.append(("in-process + JSON decode/convert/encode, p50 / p99",
                     f"{base['json_and_call']['p50_ms']:.2f} / "
                     f"{base['json_and_call']['p99_ms']:.2f} ms", "-", None))
    std = results.get("sequential_stdlib")
    if std:
        rows.append(("server, 1 instance, 1 keep-alive http.client: p50",
                     f"{std['p50_ms']:.2f} ms", f"<= {TARGET_P50_MS:g} ms",
                     std["p50_ms"] <= TARGET_P50_MS and std["failed"] == 0))
        rows.append(("server, 1 instance, 1 keep-alive http.client: p99",
                     f"{std['p99_ms']:.2f} ms", f"<= {TARGET_P99_MS:g} ms",
                     std["p99_ms"] <= TARGET_P99_MS and std["failed"] == 0))
        rows.append(("  the load generator's own CPU per request (http.client)",
                     f"{std['client_cpu_ms_per_request']:.2f} ms", "-", None))
        if base:
            rows.append(("  server p50 / in-process signature call p50 (same invocation)",
                         f"{std['p50_ms'] / base['call']['p50_ms']:.2f}x", "-", None))
        own = results.get("sequential_server_side")
        if own and own["count"]:
            rows.append(("  time inside the server (its access log), p50 / p99",
                         f"{own['p50_ms']:.2f} / {own['p99_ms']:.2f} ms", "-", None))
    lone_grpc = results.get("grpc_sequential")
    if lone_grpc:
        rows.append(("server, 1 instance, 1 gRPC client (TF Serving's stub): p50",
                     f"{lone_grpc['p50_ms']:.2f} ms", f"<= {TARGET_GRPC_P50_MS:g} ms",
                     lone_grpc["p50_ms"] <= TARGET_GRPC_P50_MS and lone_grpc["failed"] == 0))
        rows.append(("  gRPC p99 / the load generator's CPU per request",
                     f"{lone_grpc['p99_ms']:.2f} ms / "
                     f"{lone_grpc['client_cpu_ms_per_request']:.2f} ms", "-", None))
        own = results.get("grpc_server_side")
        if own and own["count"]:
            rows.append(("  gRPC: time inside the server (its access log), p50 / p99",
                         f"{own['p50_ms']:.2f} / {own['p99_ms']:.2f} ms", "-", None))
    proxy = results.get("proxy")
    if proxy:
        for api, label in (("rest", "REST, http.client"), ("grpc", "gRPC, TF Serving's stub")):
            both = proxy[api]
            ok = both["direct"]["failed"] == both["proxy"]["failed"] == 0 and \
                both["answers_differ"] == 0
            rows.append((f"request-logging proxy in front of the server, 1 instance, {label}: "
                         "p50 / p99 direct vs through the proxy (alternating requests)",
                         f"{both['direct']['p50_ms']:.2f} / {both['direct']['p99_ms']:.2f} ms vs "
                         f"{both['proxy']['p50_ms']:.2f} / {both['proxy']['p99_ms']:.2f} ms "
                         f"(adds {both['added_p50_ms']:.2f} ms at p50; "
                         f"{both['proxy']['count']} requests, {both['proxy']['failed']} failed, "
                         f"{both['answers_differ']} answers differ)", "-",
                         None if ok else False))
        if proxy.get("peak_rss_mib"):
            rows.append(("  the proxy's peak memory (VmHWM)", f"{proxy['peak_rss_mib']:.0f} MiB",
                         "-", None))
    seq = results.get("sequential")
    if seq:
        rows.append(("  same with httpx (a heavier client), p50 / p99",
                     f"{seq['p50_ms']:.2f} / {seq['p99_ms']:.2f} ms (client CPU "
                     f"{seq['client_cpu_ms_per_request']:.2f} ms/request)", "-", None))
    batched = results.get("batched")
    if batched:
        rows.append((f"throughput, {settings.batch_size} instances/request, "
                     f"{batched['clients']} clients",
                     f"{batched['predictions_per_s']:,.0f} predictions/s "
                     f"(p50 {batched['p50_ms']:.0f} / p99 {batched['p99_ms']:.0f} ms per request"
                     f"; {batched['failed']} failed; --workers 1, httpx clients in the "
                     "benchmark's process)", "-", None))
    single = results.get("concurrent_single")
    if single:
        rows.append((f"throughput, 1 instance/request, {single['clients']} clients",
                     f"{single['requests_per_s']:,.0f} requests/s (p50 {single['p50_ms']:.1f} "
                     f"/ p99 {single['p99_ms']:.1f} ms; {single['failed']} failed)", "-",
                     None))
    workers = results.get("workers")
    if workers:
        rows.append((f"throughput, 1 instance/request, {workers['clients']} clients (raw_load): "
                     "--workers 1 vs 2",
                     f"{workers['w1_requests_per_s']:,.0f} vs {workers['w2_requests_per_s']:,.0f}"
                     f" requests/s (p99 {workers['w1_p99_ms']:.1f} / {workers['w2_p99_ms']:.1f}"
                     f" ms; {workers['failed']} failed)", "-", None))
        w2_batched = workers["w2_batched_predictions_per_s"]
        rows.append((f"throughput, {settings.batch_size} instances/request, "
                     f"{settings.batch_clients} clients (raw_load): --workers 1 vs 2",
                     f"{workers['w1_batched_predictions_per_s']:,.0f} vs {w2_batched:,.0f} "
                     f"predictions/s (p99 {workers['w1_batched_p99_ms']:.0f} / "
                     f"{workers['w2_batched_p99_ms']:.0f} ms per request; server cores "
                     f"{workers['w1_batched_server_cores']:.2f} vs "
                     f"{workers['w2_batched_server_cores']:.2f}; "
                     f"{workers['batched_failed']} failed)",
                     f">= {TARGET_PREDICTIONS_PER_S:,.0f}/s (--workers 2)",
                     w2_batched >= TARGET_PREDICTIONS_PER_S and workers["batched_failed"] == 0))
        rows.append(("  --workers 2 / --workers 1 (same invocation)",
                     f"{workers['ratio']:.2f}x (server cores {workers['w1_server_cores']:.2f} "
                     f"vs {workers['w2_server_cores']:.2f})", f">= {TARGET_WORKERS_RATIO:g}x",
                     workers["ratio"] >= TARGET_WORKERS_RATIO and workers["failed"] == 0))
    swap = results.get("hot_swap")
    if swap:
        by_version = ", ".join(f"v{v}: {n}" for v, n in swap["answered_by_version"].items())
        transports = "; ".join(f"{t}: {c['failed']} of {c['answered'] + c['failed']}"
                               for t, c in swap.get("by_transport", {}).items())
        rows.append((f"hot swap v1 -> v2 under load, {swap['clients']} clients: failed requests",
                     f"{swap['failed']} of {swap['requests']} ({transports})", "0",
                     swap["failed"] == 0))
        both = set(swap["answered_by_version"]) == {"1", "2"}
        logged = results.get("request_log_check") or {}
        consistent = not logged or (logged["swap_answers_missing"] == 0
                                    and logged["swap_answers_other_version"] == 0)
        to_available = swap["seconds_push_to_available"]
        rows.append(("hot swap: versions that answered",
                     f"{by_version} (AVAILABLE {to_available:.1f} s after the push; "
                     f"p99 {swap['p99_ms']:.1f} ms, max {swap['max_ms']:.0f} ms)"
                     if to_available is not None else f"{by_version} (v2 never AVAILABLE)",
                     "v1 then v2", both and consistent))
    logged = results.get("request_log_check")
    if logged:
        rows.append(("request log: records written / dropped (queue full)",
                     f"{logged['rows']:,} / {results['request_log_dropped']:,.0f}", "-", None))
    for name, reason in results.get("skipped", {}).items():
        rows.append((f"{name} phase", f"not run: {reason}", "-", False))
    lines = ["| measurement | result | target | verdict |", "|---|---|---|---|"]
    for name, value, target, ok in rows:
        mark = "-" if ok is None else ("PASS" if ok else "FAIL")
        lines.append(f"| {name} | {value} | {target} | {mark} |")
    passed = all(ok is not False for *_, ok in rows)
    return "\n".join(lines), passed
