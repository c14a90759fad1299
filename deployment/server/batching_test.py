"""Tests for request batching with a plain numpy function standing in for a signature."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Mapping

import numpy as np
import pytest

from deployment.server.batching import Batcher
from deployment.server.config import BatchingConfig
from deployment.server.metrics import ServerMetrics


class Doubler:
    """2x per row, taking a fixed time per call (like a TF call's fixed cost)."""

    def __init__(self, seconds: float = 0.02):
        self.seconds = seconds
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["x"]
        if (x < 0).any():
            raise ValueError("negative input")
        time.sleep(self.seconds)
        with self.lock:
            self.calls.append(len(x))
        return {"y": x * 2, "n": np.full(len(x), len(x))}


def _run(config: BatchingConfig, call: Doubler, requests: list[np.ndarray],
         metrics: ServerMetrics | None = None) -> list[object]:
    async def main() -> list[object]:
        executor = concurrent.futures.ThreadPoolExecutor(4)
        batcher = Batcher(config, executor, metrics)
        try:
            return await asyncio.gather(*(
                batcher.run(("m", 1, "s"), ("m", "s"), call, {"x": x}, len(x))
                for x in requests), return_exceptions=True)
        finally:
            batcher.close()
            executor.shutdown()

    return asyncio.run(main())


def test_concurrent_requests_share_calls_and_get_their_own_rows() -> None:
    call = Doubler()
    metrics = ServerMetrics()
    requests = [np.arange(i, i + 3) for i in range(0, 60, 3)]  # 20 requests of 3 rows
    results = _run(BatchingConfig(max_batch_size=64, num_threads=1), call, requests, metrics)
    for x, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result["y"], x * 2)
    assert sum(call.calls) == 60
    assert len(call.calls) < 20 / 2  # grouped: far fewer TF calls than requests
    text = metrics.exposition().decode()
    assert 'clickflow_serving_requests_per_batch_count{model="m",signature="s"}' in text


def test_max_batch_size_is_respected() -> None:
    call = Doubler()
    results = _run(BatchingConfig(max_batch_size=5, num_threads=1), call,
                   [np.arange(2) for _ in range(10)])
    assert all(not isinstance(r, Exception) for r in results)
    assert max(call.calls) <= 5 and sum(call.calls) == 20


def test_timeout_waits_for_more_requests() -> None:
    call = Doubler(seconds=0.0)

    async def main() -> None:
        executor = concurrent.futures.ThreadPoolExecutor(2)
        batcher = Batcher(BatchingConfig(timeout_ms=200, num_threads=1), executor)

        async def later(delay: float) -> dict:
            await asyncio.sleep(delay)
            return await batcher.run("k", ("m", "s"), call, {"x": np.ones(1)}, 1)

        await asyncio.gather(later(0), later(0.05))
        batcher.close()
        executor.shutdown()

    asyncio.run(main())
    assert call.calls == [2]  # the second request, 50 ms later, joined the first call


def test_one_bad_request_does_not_fail_the_others() -> None:
    call = Doubler()
    requests = [np.ones(2), -np.ones(2), np.ones(3)]
    results = _run(BatchingConfig(num_threads=1), call, requests)
    assert isinstance(results[1], ValueError)
    np.testing.assert_array_equal(results[0]["y"], [2, 2])
    np.testing.assert_array_equal(results[2]["y"], [2, 2, 2])


@pytest.mark.parametrize("enabled", [True, False])
def test_disabled_or_unbatchable_calls_directly(enabled: bool) -> None:
    call = Doubler(seconds=0.0)

    async def main() -> list:
        executor = concurrent.futures.ThreadPoolExecutor(2)
        batcher = Batcher(BatchingConfig(enabled=enabled), executor)
        out = await asyncio.gather(*(batcher.run("k", ("m", "s"), call, {"x": np.ones(2)}, 2,
                                                 batchable=False) for _ in range(4)))
        executor.shutdown()
        return out

    assert len(asyncio.run(main())) == 4
    assert call.calls == [2, 2, 2, 2]


def test_forget_answers_queued_requests_then_stops() -> None:
    call = Doubler()

    async def main() -> list:
        executor = concurrent.futures.ThreadPoolExecutor(2)
        batcher = Batcher(BatchingConfig(num_threads=1), executor)
        tasks = [asyncio.ensure_future(batcher.run(("m", 1, "s"), ("m", "s"), call,
                                                   {"x": np.ones(1)}, 1)) for _ in range(5)]
        await asyncio.sleep(0)
        batcher.forget(lambda key: key[1] != 1)  # version 1 unloaded while requests wait
        results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        executor.shutdown()
        return results

    assert len(asyncio.run(main())) == 5


class Tracked(Doubler):
    """A Doubler that records how many calls ran at once."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.running = 0
        self.most = 0

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().__call__(inputs)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("threads", [1, 2])
def test_idle_requests_go_straight_in_but_calls_stay_within_num_threads(threads: int) -> None:
    call = Tracked(seconds=0.01)
    metrics = ServerMetrics()

    async def main() -> list:
        executor = concurrent.futures.ThreadPoolExecutor(8)
        batcher = Batcher(BatchingConfig(num_threads=threads), executor, metrics)

        async def request(i: int, delay: float) -> dict:
            await asyncio.sleep(delay)
            return await batcher.run("k", ("m", "s"), call, {"x": np.full(1, i)}, 1)

        lone = await request(0, 0)  # idle: answered alone, straight away
        waves = await asyncio.gather(*(request(i, 0.004 * (i % 5)) for i in range(1, 41)))
        batcher.close()
        executor.shutdown()
        return [lone, *waves]

    results = asyncio.run(main())
    assert [int(r["y"][0]) for r in results] == [2 * i for i in range(41)]
    assert call.calls[0] == 1 and sum(call.calls) == 41
    assert call.most <= threads  # direct calls and worker batches share the slots
    assert len(call.calls) < 41 / 2  # requests that met busy slots were batched


@pytest.mark.parametrize(("seconds", "on_loop"), [(0.0002, True), (0.01, False)])
def test_a_lone_fast_one_instance_call_runs_on_the_event_loop(seconds: float,
                                                              on_loop: bool) -> None:
    threads: list[int] = []

    def call(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        threads.append(threading.get_ident())
        time.sleep(seconds)
        return {"y": inputs["x"] * 2}

    async def main() -> list[dict]:
        executor = concurrent.futures.ThreadPoolExecutor(2)
        batcher = Batcher(BatchingConfig(num_threads=1), executor)
        try:
            return [await batcher.run("k", ("m", "s"), call, {"x": np.full(n, i)}, n)
                    for i, n in enumerate([1, 1, 1, 3])]
        finally:
            batcher.close()
            executor.shutdown()

    results = asyncio.run(main())
    assert [r["y"].tolist() for r in results] == [[0], [2], [4], [6, 6, 6]]
    loop_thread = threading.get_ident()
    # The first call is timed in the pool; later one-instance calls run on the loop when fast.
    # A request of several instances always goes to the pool.
    assert threads[0] != loop_thread and threads[3] != loop_thread
    assert all((t == loop_thread) == on_loop for t in threads[1:3])
