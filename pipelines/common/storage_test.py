"""The filesystem layer on local folders and on gs:// through the real google-cloud-storage
client, pointed by STORAGE_EMULATOR_HOST (the client's emulator setting,
google/cloud/storage/_helpers.py) at the JSON API fake on 127.0.0.1
(pipelines.testing.fake_gcs, which follows cloud.google.com/storage/docs/json_api/v1)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pipelines.common import storage
from pipelines.testing import fake_bigquery


@pytest.fixture
def gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "gcs" / "bucket").mkdir(parents=True)
    with fake_bigquery.serving(tmp_path / "gcs") as server:
        monkeypatch.setenv(storage.EMULATOR_ENV, server.endpoint)
        yield server


@pytest.fixture(params=["local", "gcs"])
def base(request, tmp_path: Path):
    if request.param == "local":
        return tmp_path / "local"
    request.getfixturevalue("gcs")
    return "gs://bucket/base"


def test_write_read_list_delete_alike_on_both(base) -> None:
    assert not storage.is_dir(base) and storage.list_dir(base) == []
    storage.write_text(storage.join(base, "a.json"), "{}")
    storage.write_bytes(storage.join(base, "date=2026-01-01", "part-1.parquet"), b"x" * 5)
    assert storage.read_text(storage.join(base, "a.json")) == "{}"
    assert storage.is_dir(base) and storage.is_file(storage.join(base, "a.json"))
    assert not storage.is_file(storage.join(base, "date=2026-01-01"))
    listed = storage.list_dir(base)
    assert [(e.name, e.is_dir) for e in listed] == [("a.json", False),
                                                    ("date=2026-01-01", True)]
    assert str(listed[1].location) == str(storage.join(base, "date=2026-01-01"))
    (part,) = storage.list_dir(listed[1].location)
    assert (part.name, part.size) == ("part-1.parquet", 5)
    everything = storage.list_files(base)
    assert [e.name for e in everything] == ["a.json", "date=2026-01-01/part-1.parquet"]
    before = everything[0].version
    storage.write_text(storage.join(base, "a.json"), "{} ")
    assert storage.list_files(base)[0].version != before  # a rewrite is a new version
    with pytest.raises(FileExistsError):
        storage.write_text(storage.join(base, "a.json"), "again", if_absent=True)
    assert storage.read_text(storage.join(base, "a.json")) == "{} "  # the refused write: none
    storage.delete(part.location)
    storage.delete(part.location)  # missing: not an error
    storage.remove_empty_dir(listed[1].location)
    assert [e.name for e in storage.list_dir(base)] == ["a.json"]
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(storage.join(base, "missing"))


def test_put_file_uploads_a_finished_file(base, tmp_path: Path) -> None:
    local = tmp_path / "finished.parquet"
    local.write_bytes(b"PAR1")
    storage.put_file(local, storage.join(base, "f.parquet"))
    assert storage.read_bytes(storage.join(base, "f.parquet")) == b"PAR1"
    local.write_bytes(b"other")
    with pytest.raises(FileExistsError):
        storage.put_file(local, storage.join(base, "f.parquet"), if_absent=True)
    assert storage.read_bytes(storage.join(base, "f.parquet")) == b"PAR1"


def test_a_file_over_8_mb_goes_up_as_a_resumable_upload(gcs, tmp_path: Path) -> None:
    """The client switches to a resumable upload above 8 MB (google/cloud/storage/blob.py,
    _MAX_MULTIPART_SIZE); create-only holds there too."""
    local = tmp_path / "big.parquet"
    data = bytes(range(256)) * (9 * 4096)  # 9 MiB
    local.write_bytes(data)
    storage.put_file(local, "gs://bucket/big.parquet", if_absent=True)
    assert (tmp_path / "gcs" / "bucket" / "big.parquet").read_bytes() == data
    assert ("POST", "/upload/storage/v1/b/bucket/o") in [(m, p) for m, p, _, _ in gcs.requests]
    assert any(q.get("uploadType") == "resumable" for _, _, q, _ in gcs.requests)
    with pytest.raises(FileExistsError):
        storage.put_file(local, "gs://bucket/big.parquet", if_absent=True)


def test_a_missing_bucket_is_refused_as_gcs_refuses_it(gcs, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="gs://no-such-bucket/x"):
        storage.write_text("gs://no-such-bucket/x", "{}")
    assert not (tmp_path / "gcs" / "no-such-bucket").exists()
    with pytest.raises(FileNotFoundError, match="no such object or bucket"):
        storage.list_dir("gs://no-such-bucket/x")  # a wrong bucket is an error, not empty


def test_an_unreachable_endpoint_is_an_oserror_naming_the_location(monkeypatch) -> None:
    monkeypatch.setenv(storage.EMULATOR_ENV, "http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(OSError, match="gs://bucket/x"):
        storage.read_bytes("gs://bucket/x", retry_seconds=1)


def test_the_endpoint_is_read_at_each_call(gcs, tmp_path: Path, monkeypatch) -> None:
    storage.write_text("gs://bucket/one", "1")
    assert (tmp_path / "gcs" / "bucket" / "one").read_text() == "1"
    with fake_bigquery.serving(tmp_path / "other") as other:
        (tmp_path / "other" / "bucket").mkdir(parents=True)
        monkeypatch.setenv(storage.EMULATOR_ENV, other.endpoint)
        storage.write_text("gs://bucket/two", "2")
    assert (tmp_path / "other" / "bucket" / "two").is_file()
    assert not (tmp_path / "gcs" / "bucket" / "two").exists()


@pytest.mark.parametrize("text", ["gs://", "gs://UPPER/x", "gs://a/x", "gs://bad_bucket!/x"])
def test_location_refuses_what_is_not_a_bucket(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="bucket name"):
        storage.location(text)


def test_location_keeps_uris_strings_and_paths_paths() -> None:
    assert storage.location("gs://b-1/request_log/") == "gs://b-1/request_log"
    assert storage.location("workspace/log") == Path("workspace/log")
    assert storage.join("gs://b-1/x", "date=1", "p") == "gs://b-1/x/date=1/p"


def test_open_read_seeks_and_rename_moves_alike_on_both(base) -> None:
    data = bytes(range(256)) * 1000
    storage.write_bytes(storage.join(base, "a", "x.bin"), data)
    with storage.open_read(storage.join(base, "a", "x.bin")) as f:
        assert f.seek(0, 2) == len(data)
        f.seek(len(data) - 10)
        assert f.read() == data[-10:]  # a ranged read on gs://, not the whole object
        f.seek(1000)
        assert f.read(5) == data[1000:1005]
    storage.rename(storage.join(base, "a", "x.bin"), storage.join(base, "b", "y.bin"))
    assert storage.read_bytes(storage.join(base, "b", "y.bin")) == data
    assert not storage.is_file(storage.join(base, "a", "x.bin"))
    with pytest.raises(FileNotFoundError):
        storage.open_read(storage.join(base, "a", "x.bin")).read()
