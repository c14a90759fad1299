"""``python -m deployment.server``: serve pushed models over TF Serving's REST API v1 and gRPC."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Sequence

from deployment.server.config import ConfigError, ServerConfig, build_parser, config_from_args
from models.bootstrap import bootstrap


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    access = logging.StreamHandler(sys.stderr)
    access.setFormatter(logging.Formatter("%(message)s"))  # already one JSON object per line
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access_logger = logging.getLogger("deployment.server.access")
    access_logger.handlers[:] = [access]
    access_logger.propagate = False
    for noisy in ("tensorflow", "absl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _listen(config: ServerConfig) -> socket.socket:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio switches Nagle off (TCP_NODELAY) only on sockets whose
    # proto says TCP, and accepted sockets inherit it. With Nagle on, a response sent as two
    # writes (headers, body) waits for the client's delayed ACK: 40 ms on every request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as err:
        sock.close()
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {err.strerror}. "
                          "Is another server using the port? Pick another with --port, or "
                          "--host for another address") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _check_grpc_port(config: ServerConfig) -> None:
    """A busy gRPC port is a one-line error before anything starts (gRPC itself would only
    fail inside the app's startup)."""
    if not config.grpc_port:
        return
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, config.grpc_port))
        except OSError as err:
            raise ConfigError(f"cannot listen on {config.host}:{config.grpc_port} for gRPC: "
                              f"{err.strerror}. Is another server (TF Serving?) using it? Pick "
                              "another with --grpc-port, or --grpc-port off") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        _check_grpc_port(config)
        sock = _listen(config)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    bootstrap(verbose=config.log_level == "debug", autograph=False)
    _configure_logging(config.log_level)

    import uvicorn

    from deployment.server import timeouts
    from deployment.server.app import Server, create_app

    host, port = sock.getsockname()[:2]
    models = ", ".join(f"{m.name} ({m.base_path}, {m.policy.describe()})" for m in config.models)
    logging.getLogger("deployment.server").info(
        "serving %s on http://%s:%d/v1/models/%s (metrics /metrics, ready /readyz), gRPC %s; "
        "request log: %s", models, host, port, config.models[0].name,
        "off" if config.grpc_port is None else f"port {config.grpc_port or '(free)'}",
        config.request_log.directory or "off")
    app = create_app(Server(config))
    uvicorn_config = uvicorn.Config(app, log_level=config.log_level, access_log=False,
                                    lifespan="on", timeout_graceful_shutdown=10,
                                    log_config=None,
                                    http=timeouts.protocol_class(config.header_timeout_seconds))
    # uvicorn shuts down gracefully (lifespan: request log flushed), then re-raises the signal
    # it caught; SIGINT/SIGTERM after a clean shutdown is a normal exit, not a crash.
    signal.signal(signal.SIGTERM, _exit_normally)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn_config).run(sockets=[sock])
    return 0


def _exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
