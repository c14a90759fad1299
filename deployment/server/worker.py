"""Serving a listening socket with uvicorn: the single process, or one worker of ``--workers N``.

A worker (``--worker-fd``, started by ``deployment.server.supervisor``) serves the socket its
supervisor bound and passed down. The kernel hands each new connection to one of the processes
waiting in ``accept`` on that socket, so a worker that is not ready must not wait there: uvicorn
starts accepting only once the app's lifespan startup has completed, and ``ReadyAfterFirstPoll``
holds that completion back until the worker's registry has finished its first poll (the served
versions loaded and warmed up). A fresh worker therefore never answers 404 for a model another
worker serves. A worker whose supervisor is gone shuts itself down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployment.server.config import ServerConfig
from deployment.server.registry import ModelRegistry

log = logging.getLogger("deployment.server.worker")
PARENT_CHECK_SECONDS = 1.0
LISTEN_BACKLOG = 2048  # connections the kernel queues before accept (``listen``)


class SharedListener(socket.socket):
    """The listening socket inherited from the supervisor, which every worker accepts on.

    asyncio accepts up to ``backlog`` queued connections each time the socket is readable
    (``_accept_connection`` in asyncio/selector_events.py), so the first worker to wake takes
    a whole burst: 8 clients connecting at once all landed on one of two workers. A worker
    started with ``backlog=1`` accepts one connection per turn of its event loop, as nginx's
    default ``multi_accept off`` does ("a worker process will accept one new connection at a
    time", https://nginx.org/en/docs/ngx_core_module.html#multi_accept), and a busy worker,
    whose turns are longer, takes fewer. asyncio also passes that ``backlog`` to ``listen``;
    this socket keeps the kernel's queue at ``LISTEN_BACKLOG`` instead.
    """

    def listen(self, backlog: int = LISTEN_BACKLOG) -> None:
        super().listen(LISTEN_BACKLOG)


class ReadyAfterFirstPoll:
    """Pure ASGI wrapper: lifespan startup completes only after ``registry``'s first poll."""

    def __init__(self, app: ASGIApp, registry: ModelRegistry):
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, self.registry.wait_first_poll)
                log.info("worker %d ready: first model poll done in %.1f s, accepting "
                         "connections", os.getpid(), time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, send_wrapper)


def exit_when_orphaned(parent: int, interval: float = PARENT_CHECK_SECONDS) -> threading.Thread:
    """A daemon thread that sends this process SIGTERM (uvicorn's graceful shutdown) once
    its parent ``parent`` has exited, so a killed supervisor leaves no worker serving."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("worker %d: the supervisor (pid %d) is gone; shutting down", os.getpid(),
                    parent)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def serve(config: ServerConfig, sock: socket.socket, *, worker: bool = False) -> int:
    """Serves ``sock`` until SIGTERM or SIGINT, then shuts down gracefully; the exit status."""
    import uvicorn

    from deployment.server import timeouts
    from deployment.server.app import Server, create_app

    server = Server(config)
    app: ASGIApp = create_app(server)
    if worker:
        app = ReadyAfterFirstPoll(app, server.registry)
        exit_when_orphaned(os.getppid())
    uvicorn_config = uvicorn.Config(app, log_level=config.log_level, access_log=False,
                                    lifespan="on", timeout_graceful_shutdown=10,
                                    log_config=None, backlog=1 if worker else LISTEN_BACKLOG,
                                    http=timeouts.protocol_class(config.header_timeout_seconds))
    # uvicorn shuts down gracefully (lifespan: request log flushed), then re-raises the signal
    # it caught; SIGINT/SIGTERM after a clean shutdown is a normal exit, not a crash.
    signal.signal(signal.SIGTERM, _exit_normally)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn_config).run(sockets=[sock])
    return 0


def _exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)
