"""Tests for ``--workers auto``: the affinity mask and the cgroup v2 ``cpu.max`` quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployment.server import cpus


# cpu.max is "$MAX $PERIOD", MAX "max" for no limit (Documentation/admin-guide/cgroup-v2.rst,
# "cpu.max"); Kubernetes writes limits.cpu 1500m as "150000 100000".
@pytest.mark.parametrize(("text", "expected"), [
    ("max 100000\n", None),
    ("150000 100000\n", 1.5),
    ("200000 100000", 2.0),
    ("50000 100000", 0.5),
    ("", None),
    ("garbage", None),
    ("0 100000", None),
])
def test_quota_cpus(text: str, expected: float | None) -> None:
    assert cpus.quota_cpus(text) == expected


def test_available_cpus_is_the_smaller_of_affinity_and_quota(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert cpus.available_cpus(cpu_max) == affinity
    cpu_max.write_text(f"{(affinity + 4) * 100000} 100000\n")
    assert cpus.available_cpus(cpu_max) == affinity
    cpu_max.write_text("150000 100000\n")  # 1.5 CPUs: one worker can keep busy one core
    assert cpus.available_cpus(cpu_max) == 1
    cpu_max.write_text("20000 100000\n")  # 0.2 CPUs: still one worker
    assert cpus.available_cpus(cpu_max) == 1
    assert cpus.available_cpus(tmp_path / "missing") == affinity  # cgroup v1, no container
