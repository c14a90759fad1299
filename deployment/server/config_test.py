"""Tests for flags and TF Serving model config files (no TensorFlow model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployment.server import config
from pipelines.common import names

REPO = Path(__file__).resolve().parents[2]


def _config(*argv: str) -> config.ServerConfig:
    return config.config_from_args(config.build_parser().parse_args(list(argv)))


def test_defaults_bind_localhost_and_tf_serving_port(tmp_path: Path) -> None:
    cfg = _config("--model-base-path", str(tmp_path))
    assert cfg.host == "127.0.0.1" and cfg.port == 8501 and cfg.grpc_port == 8500
    (model,) = cfg.models
    assert model.name == "clickflow" and model.base_path == tmp_path
    assert model.policy == config.VersionPolicy("latest", num_versions=1)
    # Rooted at the repository, like every other default, whatever the current directory.
    assert cfg.request_log.directory == names.REPO_ROOT / "workspace" / "request_log"
    assert config.DEFAULT_BASE_PATH == names.REPO_ROOT / "workspace" / "serving_model" / "clickflow"
    assert cfg.batching.enabled and cfg.max_instances == 1000


def test_the_request_log_may_be_a_gs_uri(tmp_path: Path, capsys) -> None:
    cfg = _config("--model-base-path", str(tmp_path), "--request-log-dir",
                  "gs://my-bucket/request_log/")
    assert cfg.request_log.directory == "gs://my-bucket/request_log"  # not Path's "gs:/..."
    with pytest.raises(SystemExit):
        _config("--model-base-path", str(tmp_path), "--request-log-dir", "gs://My_Bucket/x")
    assert "--request-log-dir" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "policy"), [
    (["--num-versions", "2"], config.VersionPolicy("latest", num_versions=2)),
    (["--versions", "3,5"], config.VersionPolicy("specific", versions=(3, 5))),
    (["--all-versions"], config.VersionPolicy("all")),
])
def test_version_policy_flags(tmp_path: Path, flags: list[str],
                              policy: config.VersionPolicy) -> None:
    assert _config("--model-base-path", str(tmp_path), *flags).models[0].policy == policy


@pytest.mark.parametrize(("policy", "expected"), [
    (config.VersionPolicy("latest", num_versions=2), [5, 9]),
    (config.VersionPolicy("latest", num_versions=10), [1, 3, 5, 9]),
    (config.VersionPolicy("specific", versions=(3, 4)), [3]),
    (config.VersionPolicy("all"), [1, 3, 5, 9]),
])
def test_policy_select(policy: config.VersionPolicy, expected: list[int]) -> None:
    assert policy.select([9, 1, 5, 3]) == expected


def test_repo_models_config_parses_with_base_path_override(tmp_path: Path) -> None:
    cfg = _config("--model-config-file", str(REPO / "deployment/base/models.config"),
                  "--model-base-path", str(tmp_path))
    (model,) = cfg.models
    assert model.name == "clickflow" and model.base_path == tmp_path
    assert model.policy.kind == "latest" and model.policy.num_versions >= 1


def test_config_file_policies_and_labels(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    path = tmp_path / "models.config"
    path.write_text(f"""
        # two models
        model_config_list {{
          config {{ name: "a" base_path: "{tmp_path / 'a'}" model_platform: "tensorflow"
                   model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
                   version_labels {{ key: "stable" value: 1 }}
                   version_labels {{ key: "canary" value: 2 }} }}
          config {{ name: "b" base_path: "{tmp_path / 'b'}"
                   model_version_policy {{ all {{}} }} }}
        }}""")
    a, b = _config("--model-config-file", str(path)).models
    assert a.policy == config.VersionPolicy("specific", versions=(1, 2))
    assert dict(a.version_labels) == {"stable": 1, "canary": 2}
    assert b.name == "b" and b.policy.kind == "all"


@pytest.mark.parametrize(("text", "message"), [
    ("model_config_list { config { name: 'x' base_pth: '/tmp' } }", "base_pth"),
    ("model_config_list { config { base_path: '/tmp' } }", "name is required"),
    ("model_config_list { config { name: 'x' } }", "base_path is required"),
    ("model_config_list { }", "no config entries"),
    ("model_config_list { config { name: 'x' base_path: '/tmp' model_platform: 'onnx' } }",
     "model_platform"),
    ("model_config_list { config { name: 'x' base_path: '/tmp' "
     "version_labels { key: '7' value: 1 } } }", "label '7'"),
])
def test_bad_config_file_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "models.config"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=message) as err:
        _config("--model-config-file", str(path))
    assert str(path) in str(err.value)


def test_cloud_base_path_needs_local_override() -> None:
    with pytest.raises(config.ConfigError, match=r"gs://.*--model-base-path"):
        _config("--model-config-file", str(REPO / "deployment/base/models.config"))


def test_missing_base_path_is_explained(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=r"does not exist.*make run"):
        _config("--model-base-path", str(tmp_path / "nope"))


def test_missing_config_file_and_policy_conflict(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot be read"):
        _config("--model-config-file", str(tmp_path / "none.config"))
    path = tmp_path / "m.config"
    path.write_text(f"model_config_list {{ config {{ name: 'x' base_path: '{tmp_path}' }} }}")
    with pytest.raises(config.ConfigError, match="--num-versions"):
        _config("--model-config-file", str(path), "--num-versions", "2")


@pytest.mark.parametrize(("flag", "expected"), [("off", None), ("OFF", None), ("0", 0),
                                               ("9000", 9000)])
def test_grpc_port_flag(tmp_path: Path, flag: str, expected: int | None) -> None:
    assert _config("--model-base-path", str(tmp_path), "--grpc-port", flag).grpc_port \
        == expected


def test_grpc_and_rest_ports_must_differ(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="--grpc-port 9000 is also the REST --port"):
        _config("--model-base-path", str(tmp_path), "--grpc-port", "9000", "--port", "9000")


@pytest.mark.parametrize("flags", [["--port", "x"], ["--versions", "a,b"],
                                   ["--grpc-port", "-1"], ["--grpc-port", "70000"],
                                   ["--grpc-port", "on"],
                                   ["--num-versions", "0"], ["--num-versions", "1",
                                                            "--all-versions"]])
def test_bad_flags_exit_2(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        config.build_parser().parse_args(flags)
    assert exit_info.value.code == 2
    assert flags[0] in capsys.readouterr().err


def test_workers_default_number_and_auto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    assert _config("--model-base-path", str(tmp_path)).workers == 1
    assert _config("--model-base-path", str(tmp_path), "--workers", "3").workers == 3
    monkeypatch.setattr("deployment.server.cpus.available_cpus", lambda: 5)
    assert _config("--model-base-path", str(tmp_path), "--workers", "AUTO").workers == 5


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", ""])
def test_bad_workers_value_names_the_flag(tmp_path: Path, value: str) -> None:
    with pytest.raises(config.ConfigError, match=r"^--workers must be a whole number >= 1 or "
                                                 r"'auto', got "):
        _config("--model-base-path", str(tmp_path), "--workers", value)
