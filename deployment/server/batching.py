"""Merges concurrent requests for one version and signature into one TensorFlow call.

As TF Serving's batching: a TF call has a large fixed cost (Python dispatch, a graph run per
input set), so while one call runs, requests that arrive queue up and go together in the next
call. With ``timeout_ms`` 0 nothing waits on purpose: an idle server answers a lone request at
once, and batches form only under load. A batch that fails (one request's bad value) is retried
request by request, so one client's bad input never fails another's request.

At most ``num_threads`` calls per queue run at once (a semaphore). With ``timeout_ms`` 0, a
request that finds a free slot and nothing queued takes the slot itself instead of handing over
to a worker task: the same call, two event-loop hand-overs sooner. If that lone request has one
instance and the signature's recent one-instance calls took under ``INLINE_MAX_SECONDS``, the
call runs on the event loop itself: handing a sub-millisecond model call to a thread and back
costs about 0.4 ms, a third of the request, and the loop is held no longer than one fast call.
A slower model keeps its calls off the loop, where concurrent requests batch. Requests that
arrive while every slot is busy queue up, and the next worker to get a slot takes them all as
one batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np

from deployment.server.config import BatchingConfig

log = logging.getLogger(__name__)

Call = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
INLINE_MAX_SECONDS = 0.002


@dataclasses.dataclass
class _Item:
    inputs: Mapping[str, np.ndarray]
    count: int
    future: asyncio.Future


class _Queue:
    def __init__(self, batcher: Batcher, key: Hashable, call: Call, labels: tuple[str, str]):
        self.queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self.slots = asyncio.Semaphore(batcher.config.num_threads)
        self.held = 0  # items taken off the queue by a worker still waiting for a slot
        self.one_seconds: float | None = None  # moving average of one-instance call times
        self.call = call
        self.labels = labels
        self.batcher = batcher
        self.workers = [asyncio.get_running_loop().create_task(self._work(), name=f"batch-{key}")
                        for _ in range(batcher.config.num_threads)]

    def idle(self) -> bool:
        """A slot is free and no request is waiting for one: a new request may go straight in."""
        return not self.slots.locked() and self.held == 0 and self.queue.empty()

    def timed_one(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``call`` on one instance, its time kept in the moving average."""
        started = time.perf_counter()
        outputs = self.call(inputs)
        seconds = time.perf_counter() - started
        previous = self.one_seconds
        self.one_seconds = seconds if previous is None else 0.8 * previous + 0.2 * seconds
        return outputs

    def inline(self, count: int) -> bool:
        """Whether a lone request of ``count`` instances runs on the event loop thread."""
        return count == 1 and self.one_seconds is not None and \
            self.one_seconds < INLINE_MAX_SECONDS

    async def _next_batch(self, first: _Item) -> tuple[list[_Item], _Item | None, bool]:
        """The next batch, an item that did not fit (next batch's first), and whether to stop."""
        config = self.batcher.config
        batch, size = [first], first.count
        loop = asyncio.get_running_loop()
        deadline = loop.time() + config.timeout_ms / 1000
        while size < config.max_batch_size:
            try:
                item = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if item is None:
                return batch, None, True
            if size + item.count > config.max_batch_size:
                return batch, item, False
            batch.append(item)
            size += item.count
        return batch, None, False

    async def _work(self) -> None:
        carry = None
        while True:
            first = carry if carry is not None else await self.queue.get()
            if first is None:
                return
            self.held += 1
            try:
                await self.slots.acquire()
            finally:
                self.held -= 1
            try:  # what queued while waiting for the slot joins this batch
                batch, carry, stop = await self._next_batch(first)
                if stop and carry is not None:
                    batch.append(carry)
                    carry = None
                batch = [item for item in batch if not item.future.done()]  # client went away
                if batch:
                    await self._run(batch)
            finally:
                self.slots.release()
            if stop:
                return

    async def _run(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        total = sum(item.count for item in batch)
        metrics = self.batcher.metrics
        if metrics is not None:
            metrics.batch_size.labels(*self.labels).observe(total)
            metrics.requests_per_batch.labels(*self.labels).observe(len(batch))
        if len(batch) == 1:
            await self._run_one(batch[0])
            return
        names = list(batch[0].inputs)
        merged = {name: np.concatenate([item.inputs[name] for item in batch]) for name in names}
        try:
            outputs = await loop.run_in_executor(self.batcher.executor, self.call, merged)
            if any(value.ndim == 0 or value.shape[0] != total for value in outputs.values()):
                raise ValueError("outputs do not have one row per instance")
        except Exception:
            for item in batch:  # find the request that failed; the others still get answers
                await self._run_one(item)
            return
        offset = 0
        for item in batch:
            if not item.future.done():
                item.future.set_result({name: value[offset:offset + item.count]
                                        for name, value in outputs.items()})
            offset += item.count

    async def _run_one(self, item: _Item) -> None:
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.batcher.executor, self.call, item.inputs)
        except Exception as err:
            if not item.future.done():
                item.future.set_exception(err)
            return
        if not item.future.done():
            item.future.set_result(result)

    def close(self) -> None:
        """Answers what is queued, then stops the workers (one stop mark each)."""
        for _ in self.workers:
            self.queue.put_nowait(None)


class Batcher:
    """Per (model, version, signature) queues with ``num_threads`` workers each."""

    def __init__(self, config: BatchingConfig, executor: concurrent.futures.Executor,
                 metrics: Any = None):
        self.config = config
        self.executor = executor
        self.metrics = metrics
        self._queues: dict[Hashable, _Queue] = {}

    async def run(self, key: Hashable, labels: tuple[str, str], call: Call,
                  inputs: Mapping[str, np.ndarray], count: int, batchable: bool = True
                  ) -> dict[str, np.ndarray]:
        """``call(inputs)``, merged with concurrent calls of the same ``key`` when enabled."""
        loop = asyncio.get_running_loop()
        if not (self.config.enabled and batchable):
            if self.metrics is not None:
                self.metrics.batch_size.labels(*labels).observe(count)
                self.metrics.requests_per_batch.labels(*labels).observe(1)
            return await loop.run_in_executor(self.executor, call, inputs)
        batch_queue = self._queues.get(key)
        if batch_queue is None:
            batch_queue = self._queues[key] = _Queue(self, key, call, labels)
        if self.config.timeout_ms == 0 and batch_queue.idle():
            async with batch_queue.slots:
                if self.metrics is not None:
                    self.metrics.batch_size.labels(*labels).observe(count)
                    self.metrics.requests_per_batch.labels(*labels).observe(1)
                if batch_queue.inline(count):  # see the module docstring
                    return batch_queue.timed_one(inputs)
                direct = batch_queue.timed_one if count == 1 else call
                return await loop.run_in_executor(self.executor, direct, inputs)
        future = loop.create_future()
        batch_queue.queue.put_nowait(_Item(inputs, count, future))
        return await future

    def forget(self, keep: Callable[[Hashable], bool]) -> None:
        """Stops the queues whose key ``keep`` rejects (an unloaded version's)."""
        for key in [k for k in self._queues if not keep(k)]:
            self._queues.pop(key).close()

    def close(self) -> None:
        self.forget(lambda _: False)
