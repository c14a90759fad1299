"""Local serving speed: latency, throughput and a hot swap under load, in one bounded run.

    python experiments/benchmarks/serving_benchmark.py [--no-request-log] [--no-batching]
        [--requests 2000] [--time-limit 600] [--json results.json] [--profile-server out.prof]

Exports two small real models (pipelines.testing.small_model, seeds 0 and 1, so their
predictions differ), then, on 127.0.0.1 only:

1. baseline: the same SavedModel called in this process through the server's own code
   (``servable.load``, ``Signature.__call__``), one instance per call;
2. single-instance predict through the real server (``python -m deployment.server`` as a
   subprocess, request log and JSON access log on as in production), one keep-alive client
   sending sequentially: the standard library's ``http.client`` as the load generator
   (client-observed p50/p99: the target; about 0.3 ms of client CPU per request, which on two
   cores competes with the server), the server's own time from its access log, and the same
   requests from httpx (about four times the client CPU), so the client's share is visible;
3. throughput: batched requests from a few concurrent clients (predictions/s), and
   single-instance requests from more clients (requests/s); these clients and the swap's use
   ``http.client`` unless ``--load-client httpx``, to leave the cores to the server;
4. hot swap: clients send continuously while version 2 is pushed as a Pusher does (copied under
   a temporary name beside the base path, then renamed in); the run waits until the server
   reports version 2 AVAILABLE and answers with it, keeps the load a few seconds more, and counts
   failed requests. Every answer is checked against both versions' in-process predictions, and
   after shutdown against the request log (which version answered each request id).

5. the request-logging proxy (the GKE sidecar, ``python -m deployment.server --proxy-rest
   --proxy-grpc``) in front of the server, which stands in for TF Serving: lone REST and gRPC
   requests sent alternately to the server and through the proxy, in the same invocation; the
   answers must be identical (``proxy``);
6. ``--workers 1`` against ``--workers 2``: fresh servers of each, in turn, under 8
   single-instance keep-alive clients from ``raw_load`` (one process, raw sockets, prebuilt
   request bytes: about a quarter of http.client's CPU per request, so the load generator does
   not take the second core the second worker needs), and the ratio of their requests/s.

``--no-batching`` (and ``--no-request-log``) start the server that way, to compare runs.
Every phase is bounded in requests and seconds, and ``--time-limit`` bounds the whole run. The
load generator shares the machine's cores with the server; the report gives both processes' CPU
use per phase. Prints a markdown table with the targets; exits 1 when a target is missed.

The parts: ``settings`` (flags), ``clients`` (rows, request bodies, load clients, percentiles,
CPU clock), ``baseline`` (the models and the in-process baseline), ``scenarios`` (sequential and
concurrent load), ``hot_swap`` (a push under load, checked against the request log),
``proxy`` (the proxy in front of the server), ``workers`` and ``raw_load`` (one against two
server processes, and their load generator),
``report`` (the table) and ``runner`` (the server, the phases in order, ``main``).
"""
