"""Reading and parsing a request body: size limit, gzip, disconnects, a deadline, and JSON
that Python's own parser and encoders would fail on later."""

from __future__ import annotations

import asyncio
import json
import sys
import zlib
from typing import Any

from starlette.requests import ClientDisconnect, Request

from deployment.server.convert import RequestError
from deployment.server.timeouts import BODY_SECONDS

CLIENT_CLOSED = 499  # nginx's "client closed request": nobody is left to answer


async def read_body(request: Request, limit: int, timeout: float = BODY_SECONDS) -> bytes:
    """The request body within ``limit`` bytes (inflated, for gzip) and ``timeout`` seconds."""
    try:
        return await asyncio.wait_for(_read_body(request, limit), timeout)
    except asyncio.TimeoutError:  # nginx's client_body_timeout: a stalled body is cut off
        raise RequestError(f"the request body took over {timeout:g} s to arrive "
                           "(--body-timeout-seconds)", 408) from None


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise RequestError(f"Content-Length header {length!r} is not a number")
        if int(length) > limit:
            raise RequestError(f"request body is {int(length)} bytes; the limit is {limit} "
                               "(--max-body-bytes): send fewer instances per request", 413)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise RequestError(f"Content-Encoding {encoding!r} is not supported; send the body "
                           "as is or gzip-compressed", 415)
    # TF Serving inflates gzip bodies (net_http's evhttp_request.cc); the limit applies to
    # the inflated bytes, so a small compressed bomb is refused as it grows.
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            if inflate is not None:
                chunk = _inflate(inflate, chunk, limit - size, limit)
            size += len(chunk)
            if size > limit:
                raise RequestError(f"request body is over the limit of {limit} bytes "
                                   "(--max-body-bytes): send fewer instances per request", 413)
            chunks.append(chunk)
        if inflate is not None and not inflate.eof and size:
            raise RequestError("the gzip request body is truncated")
    except ClientDisconnect:  # the client's choice, not a server error: logged as nginx's 499
        raise RequestError(f"the client disconnected after {size} bytes of the body",
                           CLIENT_CLOSED) from None
    return b"".join(chunks)


def _inflate(inflate: Any, chunk: bytes, room: int, limit: int) -> bytes:
    try:  # never more than the room left plus one byte: a bomb stops here
        out = inflate.decompress(chunk, max(room, 0) + 1)
    except zlib.error as err:
        raise RequestError(f"the request body is not valid gzip: {err}") from None
    if inflate.unconsumed_tail or len(out) > room:
        raise RequestError(f"the gzip request body inflates to over the limit of {limit} "
                           "bytes (--max-body-bytes): send fewer instances per request", 413)
    return out


def parse_json_object(body: bytes, allowed: set[str]) -> dict[str, Any]:
    if not body.strip():
        raise RequestError("JSON Parse error: the request body is empty; expected a JSON object")
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RequestError(f"JSON Parse error: {err}") from None
    except RecursionError:  # Python's parser recurses once per level
        raise RequestError("JSON Parse error: arrays and objects are nested too deeply "
                           f"(the limit is about {sys.getrecursionlimit()} levels)") from None
    except ValueError:  # int()'s limit on digits (CPython, CVE-2020-10735)
        raise RequestError(f"JSON Parse error: a number has more than "
                           f"{sys.get_int_max_str_digits()} digits") from None
    if b"\\u" in body:
        try:  # json.loads keeps an escaped lone surrogate ("\ud800"): not Unicode, it breaks
            json.dumps(value, ensure_ascii=False).encode()  # every encoder after (tensors, log)
        except UnicodeEncodeError:
            raise RequestError("JSON Parse error: a string holds a lone UTF-16 surrogate "
                               "escape (\\ud800-\\udfff without its pair); strings must be "
                               "valid Unicode") from None
    if not isinstance(value, dict):
        raise RequestError("JSON Parse error: the request body must be a JSON object, got "
                           f"{type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise RequestError(f"unknown key '{unknown[0]}' in the request; expected keys "
                           f"{sorted(allowed)}")
    return value
