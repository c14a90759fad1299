"""How many CPUs this process may use: its affinity mask and its cgroup v2 CPU quota.

``os.cpu_count()`` counts the machine's cores, not the ones a container may use: a pod with
``limits.cpu: 2`` on a 16-core node sees 16. The kernel enforces a CPU limit as a cgroup v2
quota, ``cpu.max`` = ``"<quota> <period>"`` in microseconds (``"max <period>"``: no limit;
https://docs.kernel.org/admin-guide/cgroup-v2.html, "cpu.max"), and ``taskset``/cpusets as
the affinity mask. ``--workers auto`` is the smaller of the two, rounded down, at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def quota_cpus(text: str) -> float | None:
    """The CPUs a cgroup v2 ``cpu.max`` line allows; None for ``max`` (no limit) or an
    unreadable line."""
    fields = text.split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Whole CPUs this process may keep busy (affinity and cgroup quota), at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    try:
        quota = quota_cpus(cpu_max.read_text())
    except OSError:  # cgroup v1, or not in a container
        quota = None
    if quota is not None:
        count = min(count, math.floor(quota))
    return max(1, count)
