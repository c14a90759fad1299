"""The few Cloud Storage JSON API calls ingestion makes, over a local folder standing for gs://.

``<root>/<bucket>/<object name>`` is ``gs://<bucket>/<object name>``. Served by
``pipelines.testing.fake_bigquery`` beside BigQuery's API, so the real
``google.cloud.storage.Client`` (``client_options={"api_endpoint": ...}``) lists, downloads
and uploads through it, and BigQuery's load jobs read the same files.

Calls and shapes follow the JSON API reference (cloud.google.com/storage/docs/json_api/v1):
``objects.list`` (GET /storage/v1/b/{bucket}/o?prefix=, ``items`` + ``nextPageToken``, sizes
and generations as strings, ``md5Hash``/``crc32c`` base64), media download (GET
/download/storage/v1/b/{bucket}/o/{object}?alt=media, ``x-goog-hash`` header, which the client
checks; with ``Range: bytes=A-B`` a 206 of that part, as ranged reads get it), ``objects.copy``
(POST .../o/{object}/copyTo/b/{bucket}/o/{object}) and multipart upload
(POST /upload/storage/v1/b/{bucket}/o?uploadType=multipart) with
``ifGenerationMatch`` (412 conditionNotMet when it does not hold, as the real service;
``ifGenerationMatch=0``: only if no live object has that name), ``objects.get`` (metadata),
``objects.delete`` (DELETE /storage/v1/b/{bucket}/o/{object}, 204 with no body, 404 when
missing) and ``objects.list`` with ``delimiter`` (objects directly under the prefix in
``items``, the deeper names folded into ``prefixes``, each ending in the delimiter) and
``maxResults``/``pageToken``; resumable uploads, which the client uses above 8 MB
(POST ...?uploadType=resumable with the metadata answers a session URI in ``Location``;
PUT chunks to it with ``Content-Range: bytes A-B/TOTAL``, 308 with ``Range: bytes=0-B``
until the last, which creates the object: "Perform resumable uploads" in the Storage docs).
A bucket must exist (a folder under the root): listing,
uploading to or reading from a missing one is 404 "The specified bucket does not exist."
as the service answers. An upload is visible only once complete (the service never lists or
serves an object whose upload is in progress).
An object's generation is its file's mtime in nanoseconds: rewriting a file makes a new one.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

import google_crc32c

UPLOADING = ".uploading"  # an upload in progress: never listed


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def object_resource(root: Path, bucket: str, name: str, endpoint: str) -> dict[str, Any]:
    path = root / bucket / name
    data = path.read_bytes()
    generation = str(path.stat().st_mtime_ns)
    quoted = urllib.parse.quote(name, safe="")
    return {
        "kind": "storage#object", "bucket": bucket, "name": name,
        "id": f"{bucket}/{name}/{generation}", "generation": generation,
        "metageneration": "1", "size": str(len(data)),
        "md5Hash": _b64(hashlib.md5(data).digest()),
        "crc32c": _b64(google_crc32c.Checksum(data).digest()),
        "contentType": "application/octet-stream",
        "mediaLink": f"{endpoint}/download/storage/v1/b/{bucket}/o/{quoted}"
                     f"?generation={generation}&alt=media",
    }


def gcs_error(code: int, reason: str, message: str) -> tuple[int, dict, bytes]:
    body = {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": "global", "reason": reason}]}}
    return code, {}, json.dumps(body).encode()


class FakeGcs:
    """Objects under ``root``; ``handle`` answers one request as (status, headers, body)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sessions: dict[str, dict[str, Any]] = {}  # resumable uploads in progress

    def path_of(self, uri: str) -> Path | None:
        """The local file of a ``gs://bucket/name`` URI (None when it is not one)."""
        if not uri.startswith("gs://") or "/" not in uri[5:]:
            return None
        bucket, name = uri[5:].split("/", 1)
        return self.root / bucket / name

    def handle(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes,
               endpoint: str) -> tuple[int, dict, bytes]:
        parts = path.split("/")
        # /storage/v1/b/{bucket}/o[/{object}]
        if method == "GET" and parts[1:3] == ["storage", "v1"] and len(parts) == 6:
            return self._list(parts[4], query, endpoint)
        if method == "GET" and parts[1:3] == ["download", "storage"] and len(parts) == 8:
            return self._download(parts[5], urllib.parse.unquote(parts[7]), headers.get("Range"))
        if method == "GET" and parts[1:3] == ["storage", "v1"] and len(parts) == 7:
            name = urllib.parse.unquote(parts[6])
            if query.get("alt") == "media":
                return self._download(parts[4], name, headers.get("Range"))
            if not (self.root / parts[4] / name).is_file():
                return gcs_error(404, "notFound", f"No such object: {parts[4]}/{name}")
            return self._json(object_resource(self.root, parts[4], name, endpoint))
        # objects.copy: POST /storage/v1/b/{bucket}/o/{object}/copyTo/b/{bucket}/o/{object}
        if method == "POST" and parts[1:3] == ["storage", "v1"] and len(parts) == 12 \
                and parts[7] == "copyTo":
            return self._copy(parts[4], urllib.parse.unquote(parts[6]), parts[9],
                              urllib.parse.unquote(parts[11]), endpoint)
        if method == "DELETE" and parts[1:3] == ["storage", "v1"] and len(parts) == 7:
            return self._delete(parts[4], urllib.parse.unquote(parts[6]))
        if method == "POST" and parts[1:3] == ["upload", "storage"] and len(parts) == 7:
            if not (self.root / parts[5]).is_dir():
                return gcs_error(404, "notFound", "The specified bucket does not exist.")
            if query.get("uploadType") == "resumable":
                return self._start_resumable(parts[5], query, body, endpoint)
            return self._upload(parts[5], query, headers, body, endpoint)
        if method == "PUT" and parts[1:3] == ["upload", "storage"] and "upload_id" in query:
            return self._resume(query["upload_id"], headers, body, endpoint)
        return gcs_error(404, "notFound", f"no route {method} {path}")

    def _json(self, payload: dict) -> tuple[int, dict, bytes]:
        return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _list(self, bucket: str, query: dict[str, str], endpoint: str) -> tuple[int, dict, bytes]:
        base = self.root / bucket
        if not base.is_dir():
            return gcs_error(404, "notFound", "The specified bucket does not exist.")
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter")
        names = sorted(p.relative_to(base).as_posix() for p in base.rglob("*")
                       if p.is_file() and not p.name.endswith(UPLOADING))
        entries: dict[str, str | None] = {}  # name or prefix -> object name (None: a prefix)
        for name in names:
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            if delimiter and delimiter in rest:
                entries.setdefault(prefix + rest.split(delimiter, 1)[0] + delimiter, None)
            else:
                entries[name] = name
        keys = sorted(k for k in entries if k > query.get("pageToken", ""))
        limit = int(query.get("maxResults", 1000))
        page, more = keys[:limit], len(keys) > limit
        payload: dict[str, Any] = {"kind": "storage#objects", "items": [
            object_resource(self.root, bucket, entries[k], endpoint) for k in page
            if entries[k] is not None]}
        prefixes = [k for k in page if entries[k] is None]
        if prefixes:
            payload["prefixes"] = prefixes
        if more:
            payload["nextPageToken"] = page[-1]
        return self._json(payload)

    def _delete(self, bucket: str, name: str) -> tuple[int, dict, bytes]:
        path = self.root / bucket / name
        if not (self.root / bucket).is_dir():
            return gcs_error(404, "notFound", "The specified bucket does not exist.")
        if not path.is_file():
            return gcs_error(404, "notFound", f"No such object: {bucket}/{name}")
        path.unlink()
        return 204, {}, b""

    def _download(self, bucket: str, name: str,
                  byte_range: str | None = None) -> tuple[int, dict, bytes]:
        """The object; with ``Range: bytes=A-B`` (or ``A-``, or ``-N``: the last N bytes) the
        part asked for as 206 with ``Content-Range``, as the service answers a ranged media
        download (the hashes stay the whole object's), 416 past the end."""
        path = self.root / bucket / name
        if not path.is_file():
            return gcs_error(404, "notFound", f"No such object: {bucket}/{name}")
        data = path.read_bytes()
        hashes = (f"crc32c={_b64(google_crc32c.Checksum(data).digest())},"
                  f"md5={_b64(hashlib.md5(data).digest())}")
        headers = {"Content-Type": "application/octet-stream", "x-goog-hash": hashes,
                   "x-goog-generation": str(path.stat().st_mtime_ns)}
        found = re.fullmatch(r"bytes=(\d*)-(\d*)", byte_range or "")
        if not found or found.groups() == ("", ""):
            return 200, headers, data
        first, last = found.groups()
        if first == "":
            start, end = max(len(data) - int(last), 0), len(data) - 1
        else:
            start = int(first)
            end = min(int(last), len(data) - 1) if last else len(data) - 1
        if start >= len(data):
            return gcs_error(416, "requestedRangeNotSatisfiable",
                             "The requested range cannot be satisfied.")
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return 206, headers, data[start:end + 1]

    def _copy(self, bucket: str, name: str, to_bucket: str, to_name: str,
              endpoint: str) -> tuple[int, dict, bytes]:
        source = self.root / bucket / name
        if not source.is_file() or not (self.root / to_bucket).is_dir():
            return gcs_error(404, "notFound", f"No such object: {bucket}/{name}")
        self._store(self.root / to_bucket / to_name, source.read_bytes())
        return self._json(object_resource(self.root, to_bucket, to_name, endpoint))

    def _start_resumable(self, bucket: str, query: dict[str, str], body: bytes,
                         endpoint: str) -> tuple[int, dict, bytes]:
        metadata = json.loads(body) if body else {}
        name = metadata.get("name") or query.get("name", "")
        upload_id = hashlib.md5(f"{bucket}/{name}/{len(self.sessions)}".encode()).hexdigest()
        self.sessions[upload_id] = {"bucket": bucket, "name": name, "data": bytearray(),
                                    "expected": query.get("ifGenerationMatch")}
        location = (f"{endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=resumable"
                    f"&upload_id={upload_id}")
        return 200, {"Location": location}, b""

    def _resume(self, upload_id: str, headers: Any, body: bytes,
                endpoint: str) -> tuple[int, dict, bytes]:
        session = self.sessions.get(upload_id)
        if session is None:
            return gcs_error(404, "notFound", "No such upload session.")
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)",
                             headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != len(session["data"]):
            return gcs_error(400, "invalid", "Content-Range does not continue the upload.")
        session["data"] += body
        end, total = int(match.group(2)), match.group(3)
        if total == "*" or end + 1 < int(total):
            return 308, {"Range": f"bytes=0-{end}"}, b""
        del self.sessions[upload_id]
        bucket, name = session["bucket"], session["name"]
        path = self.root / bucket / name
        current = str(path.stat().st_mtime_ns) if path.is_file() else "0"
        if session["expected"] is not None and session["expected"] != current:
            return gcs_error(412, "conditionNotMet",
                             "At least one of the pre-conditions you specified did not hold.")
        self._store(path, bytes(session["data"]))
        return self._json(object_resource(self.root, bucket, name, endpoint))

    def _store(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + UPLOADING)
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _upload(self, bucket: str, query: dict[str, str], headers: Any, body: bytes,
                endpoint: str) -> tuple[int, dict, bytes]:
        if query.get("uploadType") != "multipart":
            return gcs_error(400, "invalid", "this fake takes multipart uploads only")
        raw = b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        metadata_part, media_part = list(message.iter_parts())
        metadata = json.loads(metadata_part.get_content())
        name = metadata.get("name") or query.get("name", "")
        path = self.root / bucket / name
        expected = query.get("ifGenerationMatch")
        current = str(path.stat().st_mtime_ns) if path.is_file() else "0"
        if expected is not None and expected != current:
            return gcs_error(412, "conditionNotMet",
                             "At least one of the pre-conditions you specified did not hold.")
        self._store(path, media_part.get_payload(decode=True))
        return self._json(object_resource(self.root, bucket, name, endpoint))
