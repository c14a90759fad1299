"""A recording fake of Kubeflow Pipelines 2.x's v2beta1 REST API that refuses what the real
server refuses, with its status codes and error bodies, so the real ``kfp`` client can be
tested against KFP's contract rather than against a server that takes anything.

Refusals follow the server's order (kubeflow/pipelines backend/src/apiserver):
CreateRecurringRun converts the request first (server/api_converter.go ``toModelJob``:
max_concurrency, cron); both creates then build the template (resource/resource_manager.go ->
template.New), check the run's parameters (template/v2_template.go) and compile the spec for
Argo. ``pipelines.cloud.kfp_rules`` holds the spec rules. The server wraps template errors in
NewInternalServerError, so an invalid spec gets HTTP 500 (gRPC 13), not 400; field errors get
400 (gRPC 3). Rules that bite only when the driver runs (kfp_rules stage "driver") are accepted
here as by the real server, and recorded in ``doomed``.

Bodies are grpc-gateway v1's ``{"error", "code", "message", "details"}`` (KFP's server used
gateway v1 through its 2.x releases; current master moved to gateway v2, whose body drops
"error"), details holding KFP's ``api.Error``. Messages follow
the real wrapping chain, except that the server's compile errors (printed with Go's ``%+v``)
also carry the compiler's component context and stack frames, which are left out.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipelines.cloud import kfp_requests, kfp_rules

BASE = "/apis/v2beta1/"
HTTP_STATUS = {3: 400, 5: 404, 13: 500}  # grpc-gateway's HTTPStatusFromCode
_INVALID_SPEC = ("Failed to fetch a template with an invalid pipeline spec manifest: "
                 "InvalidInputError: {}: pipeline spec is invalid")


def grpc_error(code: int, status: str, external: str | None = None) -> tuple[int, dict]:
    """KFP's util.ToGRPCError through grpc-gateway: the status text is the internal error
    chain; details carry the external message ("Internal Server Error" for internal ones)."""
    detail = {"@type": "type.googleapis.com/api.Error",
              "error_message": external or status, "error_details": status}
    return HTTP_STATUS[code], {"error": status, "code": code, "message": status,
                               "details": [detail]}


def refusal(spec: dict, parameters: dict | None, action: str,
            context: str) -> tuple[int, dict] | None:
    """The first refusal of CreateRun (action "Failed to create a new run") or
    CreateRecurringRun, in the server's order: template, job inputs, compiler."""
    found = kfp_rules.violations(spec)
    template = [v for v in found if v.stage == "api-server"]
    if template:
        return grpc_error(13, f"{action}: InternalServerError: {context}: "
                          + _INVALID_SPEC.format(template[0].message), "Internal Server Error")
    for message in kfp_requests.run_parameter_errors(spec, parameters):
        return grpc_error(3, f"{action}: {_generate(action)}invalid pipeline job inputs: "
                          f"Invalid input error: {message}", message)
    compiler = [v for v in found if v.stage == "compiler"]
    if compiler:
        return grpc_error(13, f"Internal error: {action}: {_generate(action)}Failed to compile "
                          f"job: {compiler[0].message}")
    return None


def _generate(action: str) -> str:
    if action == "Failed to create a new run":
        return "Failed to generate the ExecutionSpec: "
    return "Failed to create a recurring run during scheduled workflow creation: "


class FakeKfp(ThreadingHTTPServer):
    """The v2beta1 endpoints that submit and schedule use, with state, recording requests."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, dict, dict]] = []
        self.experiments: dict[str, dict] = {}
        self.recurring: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        # Accepted specs whose tasks the driver will fail or starve, by run/recurring run id.
        self.doomed: dict[str, list[kfp_rules.Violation]] = {}
        self.ids = itertools.count(1)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def calls(self, method: str, path: str) -> list[tuple[dict, dict]]:
        return [(q, b) for m, p, q, b in self.requests if m == method and p == path]

    def handle_api(self, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        self.requests.append((method, path, query, body))
        try:
            name = _display_name_filter(query)
        except ValueError as err:
            return grpc_error(3, str(err))
        if (method, path) == ("GET", BASE + "healthz"):
            return 200, {"multi_user": False}
        if (method, path) == ("GET", BASE + "experiments"):
            found = [e for e in self.experiments.values() if name in (None, e["display_name"])]
            return 200, {"experiments": found, "total_size": len(found)}
        if (method, path) == ("POST", BASE + "experiments"):
            experiment = {**body, "experiment_id": f"exp-{next(self.ids)}"}
            self.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if (method, path) == ("POST", BASE + "runs"):
            return self._create(body, "run_id", "run", self.runs, {"state": "PENDING"})
        if (method, path) == ("GET", BASE + "recurringruns"):
            found = [r for r in self.recurring.values()
                     if r["experiment_id"] == query.get("experiment_id")
                     and name in (None, r["display_name"])]
            return 200, {"recurringRuns": found, "total_size": len(found)}
        if (method, path) == ("POST", BASE + "recurringruns"):
            for code, message in kfp_requests.recurring_run_errors(body):
                internal = "" if code == 3 else ("InternalServerError: Failed to convert a API "
                                                 "recurring run to its internal representation: ")
                return grpc_error(code, "Failed to create a recurring run due to conversion "
                                  f"error: {internal}Invalid input error: {message}",
                                  message if code == 3 else "Internal Server Error")
            return self._create(body, "recurring_run_id", "rr", self.recurring,
                                {"status": "ENABLED"})
        if method == "DELETE" and path.startswith(BASE + "recurringruns/"):
            if self.recurring.pop(path.rsplit("/", 1)[1], None) is None:
                return grpc_error(5, "recurring run not found")
            return 200, {}
        return grpc_error(5, f"no route {method} {path}")

    def _create(self, body: dict, key: str, prefix: str, store: dict[str, dict],
                extra: dict) -> tuple[int, dict]:
        run = key == "run_id"
        spec = body.get("pipeline_spec") or {}
        parameters = (body.get("runtime_config") or {}).get("parameters")
        if run:
            action, context = ("Failed to create a new run",
                               "Failed to create a run due to error fetching manifest")
        else:
            action, context = ("Failed to create a recurring run", "Failed to create a "
                               "recurring run with an invalid pipeline spec manifest")
        refused = refusal(spec, parameters, action, context)
        if refused:
            return refused
        created = {**body, key: f"{prefix}-{next(self.ids)}", **extra}
        store[created[key]] = created
        doomed = [v for v in kfp_rules.violations(spec) if v.stage == "driver"]
        if doomed:
            self.doomed[created[key]] = doomed
        return 200, created


def _display_name_filter(query: dict) -> str | None:
    if "filter" not in query:
        return None
    (predicate,) = json.loads(query["filter"])["predicates"]
    # kfp 2.5 sends the EQUALS enum by number, as protojson accepts.
    if predicate["key"] != "display_name" or predicate["operation"] not in (1, "EQUALS"):
        raise ValueError(f"unsupported filter {predicate}")
    return predicate["stringValue"]


class _Handler(BaseHTTPRequestHandler):
    server: FakeKfp

    def _serve(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        body: Any = json.loads(self.rfile.read(length)) if length else {}
        status, payload = self.server.handle_api(self.command, url.path, query, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving() -> Iterator[FakeKfp]:
    """A FakeKfp answering on 127.0.0.1 for the duration of the block."""
    server = FakeKfp()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
