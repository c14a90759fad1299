"""The command line: help, window flags, clear errors."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipelines.monitoring import __main__ as cli
from pipelines.testing.traffic import generated, logged_requests


def test_help_lists_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--start", "--end", "--last", "--log-dir", "--labels-dir", "--trigger",
                 "--config", "--cloud-endpoint", "--labels-table"):
        assert flag in out


def test_gs_flags_and_the_endpoint_are_checked(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--log-dir", "gs://Not_A_Bucket/request_log"])
    assert "--log-dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "--labels-table", "labels"])
    assert "--labels-table: expected PROJECT.DATASET.TABLE" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["run", "--out-dir", "gs://my-bucket/monitoring/"])
    assert args.out_dir == "gs://my-bucket/monitoring"
    assert cli.main(["run", "--out-dir", str(tmp_path), "--cloud-endpoint", "127.0.0.1:1"]) == 2
    assert "--cloud-endpoint '127.0.0.1:1': expected a URL" in capsys.readouterr().err


def test_an_unreachable_bucket_is_a_one_line_error(tmp_path: Path, monkeypatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.common import storage

    monkeypatch.setattr(storage, "RETRY_SECONDS", 0.0)
    code = cli.main(["run", "--log-dir", "gs://my-bucket/request_log", "--labels-dir",
                     str(tmp_path), "--out-dir", str(tmp_path / "out"), "--no-metadata",
                     "--cloud-endpoint", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: gs://my-bucket/request_log: Cloud Storage "
                                        "unreachable"), err
    assert "Traceback" not in err


@pytest.mark.parametrize(("text", "expected"), [("90m", timedelta(minutes=90)),
                                                ("1.5d", timedelta(hours=36)),
                                                ("2w", timedelta(weeks=2))])
def test_duration(text: str, expected: timedelta) -> None:
    assert cli.duration(text) == expected


@pytest.mark.parametrize("text", ["", "1x", "-1h", "0h", "h"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="positive duration"):
        cli.duration(text)


def test_instant_defaults_to_utc() -> None:
    assert cli.instant("2026-01-02T03:04") == datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    assert cli.instant("2026-01-02T03:04Z") == datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)


@pytest.mark.parametrize(("argv", "message"), [
    (["--last", "yesterday"], "argument --last: expected a positive duration"),
    (["--start", "01/02/2026"], "argument --start: expected an ISO 8601 time"),
    (["--start", "2026-01-02", "--end", "2026-01-01"], "must be before its end"),
    (["--start", "2026-01-01", "--end", "2026-01-02", "--last", "1h"], "at most two of"),
])
def test_bad_window_flags(argv: list[str], message: str, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        code = cli.main(["run", "--out-dir", str(tmp_path), *argv])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("policy:\n  cooldown: 1\n")
    assert cli.main(["run", "--config", str(config), "--out-dir", str(tmp_path)]) == 2
    assert "unknown key(s) ['cooldown']" in capsys.readouterr().err


def test_run_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.common.request_log import write_request_log_file

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    log, _ = logged_requests(generated(30, 1), version=5, start=start, seconds=60, id_prefix="a")
    write_request_log_file(tmp_path / "log", log)
    code = cli.main(["run", "--start", "2026-01-01T00:00", "--last", "1h", "--log-dir",
                     str(tmp_path / "log"), "--labels-dir", str(tmp_path / "labels"),
                     "--pipeline-root", str(tmp_path / "root"), "--out-dir",
                     str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    assert "30 request(s)" in out and "Decision: not_enough_data" in out
    assert "no ML Metadata store at" in out
