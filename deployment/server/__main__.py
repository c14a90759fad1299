"""``python -m deployment.server``: serve pushed models over TF Serving's REST API v1 and gRPC."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Sequence

from deployment.server.config import ConfigError, ServerConfig, build_parser, config_from_args
from deployment.server.worker import LISTEN_BACKLOG, SharedListener
from models.bootstrap import bootstrap


def _configure_logging(level: str, worker: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    # Workers share the supervisor's stderr: their lines say which process wrote them.
    where = "[%(process)d] " if worker else ""
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s %(levelname)s {where}%(name)s: %(message)s"))
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
    sock.listen(LISTEN_BACKLOG)
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


def _free_grpc_port(config: ServerConfig) -> int:
    """A free port for ``--grpc-port 0`` with workers: each would otherwise pick its own."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((config.host, 0))
        return probe.getsockname()[1]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    worker_fd = args.worker_fd
    try:
        config = config_from_args(args)
        if worker_fd is None:  # a worker's siblings hold the gRPC port (SO_REUSEPORT)
            _check_grpc_port(config)
        sock = _listen(config) if worker_fd is None else SharedListener(fileno=worker_fd)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # --worker-fd that is not an open socket
        print(f"error: --worker-fd {worker_fd}: {err.strerror}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    models = ", ".join(f"{m.name} ({m.base_path}, {m.policy.describe()})" for m in config.models)
    if config.proxy is not None:
        models = (f"a logging proxy of {', '.join(m.name for m in config.models)} to "
                  f"{config.proxy.rest_backend} (gRPC {config.proxy.grpc_backend or 'not'} "
                  "forwarded)")
    if worker_fd is None and config.workers > 1:
        _configure_logging(config.log_level)
        from deployment.server.supervisor import Supervisor, worker_command

        if config.grpc_port == 0:
            argv += ["--grpc-port", str(_free_grpc_port(config))]  # the last one counts
            config = config_from_args(build_parser().parse_args(argv))
        _log_serving(config, models, host, port, f"; {config.workers} worker processes")
        return Supervisor(sock, config.workers,
                          lambda fd: worker_command(argv, fd)).run()
    bootstrap(verbose=config.log_level == "debug", autograph=False)
    _configure_logging(config.log_level, worker=worker_fd is not None)
    from deployment.server.worker import serve

    if worker_fd is None:
        _log_serving(config, models, host, port, "")
    return serve(config, sock, worker=worker_fd is not None)


def _log_serving(config: ServerConfig, models: str, host: str, port: int, more: str) -> None:
    logging.getLogger("deployment.server").info(
        "serving %s on http://%s:%d/v1/models/%s (metrics /metrics, ready /readyz), gRPC %s; "
        "request log: %s%s", models, host, port, config.models[0].name,
        "off" if config.grpc_port is None else f"port {config.grpc_port or '(free)'}",
        config.request_log.directory or "off", more)


if __name__ == "__main__":
    sys.exit(main())
