"""Serving a listening socket with uvicorn: the single process, or one worker of ``--workers N``.

A worker (``--worker-fd``, started by ``deployment.server.supervisor``) serves the socket its
supervisor bound and passed down, and binds the gRPC port with ``SO_REUSEPORT`` beside its
siblings. The kernel hands each new connection to one of the processes listening, so a worker
that is not ready must not listen yet: a worker runs its registry's first poll (the served
versions loaded and warmed up) before uvicorn starts, hence before the app's lifespan starts
gRPC and before uvicorn accepts on the REST socket. A fresh worker therefore never answers 404
(or gRPC NOT_FOUND) for a model its siblings serve. A worker whose supervisor is gone shuts
itself down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time

from deployment.server.config import ServerConfig

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
    from deployment.server.app import Server, create_app

    signal.signal(signal.SIGTERM, _exit_normally)
    if config.grpc_port is not None:
        # Imported here, before any thread: gRPC's protos import TensorFlow, and so does the
        # model watcher's first load; the two imports of TensorFlow at once in two threads
        # failed ("NameError: name 'Example' is not defined" in tensorflow/python/training/
        # training.py), killing the lifespan or the first load, 4 starts in 4 here.
        import deployment.server.grpc_api  # noqa: F401
    if config.proxy is not None:  # no model: TF Serving behind, its predictions logged
        from deployment.server.proxy import Proxy, create_proxy_app

        app = create_proxy_app(Proxy(config, grpc_reuse_port=worker))
        if worker:
            exit_when_orphaned(os.getppid())
        return _run(app, config, sock, worker)
    server = Server(config, grpc_reuse_port=worker)
    if worker:
        exit_when_orphaned(os.getppid())
        started = time.perf_counter()
        server.registry.poll_once()  # the lifespan's watcher goes on from here
        log.info("worker %d ready: first model poll done in %.1f s, accepting connections",
                 os.getpid(), time.perf_counter() - started)
    return _run(create_app(server), config, sock, worker)


def _run(app: object, config: ServerConfig, sock: socket.socket, worker: bool) -> int:
    import uvicorn

    from deployment.server import timeouts

    uvicorn_config = uvicorn.Config(app, log_level=config.log_level, access_log=False,
                                    lifespan="on", timeout_graceful_shutdown=10,
                                    log_config=None, backlog=1 if worker else LISTEN_BACKLOG,
                                    http=timeouts.protocol_class(config.header_timeout_seconds))
    # uvicorn shuts down gracefully (lifespan: request log flushed), then re-raises the signal
    # it caught; SIGINT/SIGTERM after a clean shutdown (or before the start) is a normal exit.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn_config).run(sockets=[sock])
    return 0


def _exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)
