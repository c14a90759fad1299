"""gRPC load: TF Serving's own client stub (tensorflow-serving-api's PredictionServiceStub), one
sequential client for the lone-request latency and keep-alive clients for the hot swap."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import grpc

from experiments.benchmarks.serving.clients import Tally, latency
from experiments.benchmarks.serving.settings import MODEL, Settings


def predict_requests(rows: Sequence[dict[str, Any]]) -> list[Any]:
    """One PredictRequest per row, as a TF Serving client builds it (tf.make_tensor_proto)."""
    from pipelines.testing.grpc_requests import predict_request

    return [predict_request(row, MODEL) for row in rows]


class GrpcLoadClient:
    """One channel (its own connection) and stub; ``predict`` returns the probability or
    raises ``ConnectionError`` with the gRPC status (a failed request)."""

    def __init__(self, port: int, requests: Sequence[Any]):
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.requests = requests
        # A local subchannel pool: each client its own TCP connection, as separate clients.
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                             options=[("grpc.use_local_subchannel_pool", 1)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def predict(self, index: int, request_id: str | None = None) -> float:
        metadata = (("x-request-id", request_id),) if request_id else None
        try:
            response = self.stub.Predict(self.requests[index], timeout=60, metadata=metadata)
        except grpc.RpcError as err:
            raise ConnectionError(f"{err.code().name}: {err.details()}") from None
        return response.outputs["probability"].float_val[0]

    def close(self) -> None:
        self.channel.close()


def grpc_sequential(port: int, requests: Sequence[Any], settings: Settings) -> dict[str, Any]:
    """One keep-alive gRPC client, one request at a time (ids ``grpc-<i>``)."""
    tally = Tally()
    deadline = time.monotonic() + settings.phase_limit_s / 2
    client = GrpcLoadClient(port, requests)
    cpu = time.process_time()
    try:
        for i in range(settings.warmup + settings.requests):
            if time.monotonic() > deadline:
                break
            if i == settings.warmup:
                cpu = time.process_time()
            sent = time.perf_counter()
            try:
                client.predict(i % len(requests), f"grpc-{i}")
            except ConnectionError as err:
                tally.failures.append(str(err))
                continue
            if i >= settings.warmup:
                tally.latencies.append(time.perf_counter() - sent)
        cpu = time.process_time() - cpu
    finally:
        client.close()
    count = max(len(tally.latencies), 1)
    return {**latency(tally.latencies), "client_cpu_ms_per_request": cpu / count * 1000,
            "failed": len(tally.failures), "failures": tally.failures[:5]}
