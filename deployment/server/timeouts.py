"""Slow clients are cut off: a deadline for a request's headers and one for its body.

uvicorn times out only an idle keep-alive connection; a client sending its headers a byte a
second holds a connection (and a file descriptor) for ever, the "slowloris" attack, and one
that stops in the middle of a body holds a request task. Here the connection gets
``header_seconds`` from its first byte (or from being opened) to the end of the headers, like
nginx's ``client_header_timeout``, and ``read_body`` gets ``body_seconds`` for the whole body,
like ``client_body_timeout``; both answer 408 and close.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

HEADER_SECONDS = 10.0
BODY_SECONDS = 30.0
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                     b"connection: close\r\ncontent-length: %d\r\n\r\n%s")


def _response(message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    return _TIMEOUT_RESPONSE % (len(body), body)


def protocol_class(header_seconds: float = HEADER_SECONDS) -> type:
    """uvicorn's httptools protocol with a header deadline (``uvicorn.Config(http=...)``)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(header_seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()  # now idle: uvicorn's keep-alive timeout takes over

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.write(_response(
                    f"the request headers took over {header_seconds:g} s; connection closed"))
                self.transport.close()

    return HeaderDeadlineProtocol
