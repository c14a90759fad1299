"""Choosing Beam's worker processes, against what TFX and Beam do with the flags."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from pipelines.local import beam_workers


def test_flag_takes_auto_or_a_positive_number():
    assert beam_workers.workers_flag("auto") == "auto"
    assert beam_workers.workers_flag("3") == 3
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="expected 'auto' or"):
            beam_workers.workers_flag(bad)


def test_auto_stays_in_process_for_small_data_or_few_cpus(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(beam_workers, "usable_cpus", lambda: 8)
    assert beam_workers.choose("auto", 1_000) == 1
    assert beam_workers.choose("auto", None) == 1
    assert beam_workers.choose("auto", beam_workers.AUTO_MIN_ROWS - 1) == 1
    assert beam_workers.choose("auto", beam_workers.AUTO_MIN_ROWS) == 7  # one CPU for the runner
    monkeypatch.setattr(beam_workers, "usable_cpus", lambda: 2)
    assert beam_workers.choose("auto", 10_000_000) == 1  # measured: 2 cores do not pay
    assert beam_workers.choose(1, 10_000_000) == 1  # forced either way
    assert beam_workers.choose(4, 10) == 4


def test_one_worker_passes_no_beam_flag():
    """No flag at all: any Beam flag would make TFX build its sdist (see the next test)."""
    assert beam_workers.beam_args(1) == []
    assert beam_workers.run_args(1, 10_000_000) == []


def test_tfx_builds_no_sdist_for_the_multi_process_flags(monkeypatch: pytest.MonkeyPatch):
    """tfx/utils/dependency_utils.py: make_beam_dependency_flags returns the args as they are
    when one of its dependency flags is set, else calls build_ephemeral_package (the sdist)."""
    from tfx.utils import dependency_utils

    def build():
        raise AssertionError("TFX would build and attach an sdist of itself")

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", build)
    args = beam_workers.beam_args(2, "cloudpickle")
    assert dependency_utils.make_beam_dependency_flags(args) == args
    with pytest.raises(AssertionError, match="sdist"):  # what one Beam flag alone does
        dependency_utils.make_beam_dependency_flags(args[:2])


def test_beam_reads_the_flags_as_multi_process_workers():
    from apache_beam.options.pipeline_options import (
        DirectOptions,
        PipelineOptions,
        SetupOptions,
    )

    options = PipelineOptions(beam_workers.beam_args(3, "cloudpickle"))
    direct = options.view_as(DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("multi_processing", 3)
    assert options.view_as(SetupOptions).pickle_library == "cloudpickle"


def test_worker_interpreters_are_armed_against_cve_2023_47248(tmp_path):
    """A new interpreter started with the workers' environment has pyarrow_hotfix loaded
    before any code of its own runs, and can import the repository's modules from anywhere."""
    env = dict(os.environ, **beam_workers.worker_environment({"PYTHONPATH": "/elsewhere"}))
    assert env["PYTHONPATH"].endswith(os.pathsep + "/elsewhere")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import pipelines.components; print('pyarrow_hotfix' in sys.modules)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "True"
    bare = subprocess.run(
        [sys.executable, "-c", "import sys; print('pyarrow_hotfix' in sys.modules)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert bare.stdout.strip() == "False"  # the test above is not vacuous


def test_run_args_for_several_workers_set_the_workers_path(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONPATH", "")
    args = beam_workers.run_args(2, 3_000_000)
    assert "--direct_num_workers=2" in args and "--direct_running_mode=multi_processing" in args
    assert any(a.startswith("--pickle_library=") for a in args)
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(beam_workers.WORKER_SITE)
