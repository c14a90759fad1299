"""The per-component meter against what the kernel reports (``/proc``, ``os.times``)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pipelines.local import resources

pytestmark = pytest.mark.skipif(not resources.reset_peak(), reason="needs Linux /proc")

MIB = 1 << 20


def _touch(size: int) -> bytearray:
    block = bytearray(size)
    block[::4096] = b"x" * len(block[::4096])  # resident, not just reserved
    return block


def test_peak_is_reset_per_component():
    meter = resources.Meter()
    meter.start()
    block = _touch(300 * MIB)
    del block
    big = meter.stop()
    meter.start()
    small = meter.stop()
    assert big.peak_rss_mib - small.peak_rss_mib > 250  # the freed 300 MiB is not carried over


def test_children_memory_is_counted():
    meter = resources.Meter(interval=0.05)
    meter.start()
    before = meter.stop()
    meter.start()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "b = bytearray(200 << 20); b[::4096] = b'x' * len(b[::4096]); "
            "import time; time.sleep(1.5)",
        ]
    )
    child.wait()
    with_child = meter.stop()
    assert with_child.peak_rss_mib - before.peak_rss_mib > 150


def test_cpu_of_this_process_and_waited_children():
    meter = resources.Meter()
    meter.start()
    spin_until = time.process_time() + 0.3
    while time.process_time() < spin_until:
        pass
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import time\nt = time.process_time() + 0.3\nwhile time.process_time() < t: pass",
        ],
        check=True,
    )
    usage = meter.stop()
    assert usage.cpu_seconds >= 0.6
    assert usage.cores == pytest.approx(usage.cpu_seconds / usage.wall_seconds)
    assert set(usage.as_dict()) == {"wall_seconds", "cpu_seconds", "cores", "peak_rss_mib"}


def test_descendants_include_grandchildren():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "\"b = bytearray(120 << 20); b[::4096] = b'x' * len(b[::4096]); "
            'import time; time.sleep(3)"])',
        ]
    )
    try:
        deadline = time.monotonic() + 20
        seen = 0
        while time.monotonic() < deadline and seen < 120 * 1024:
            seen = resources.descendants_rss_kib()
            time.sleep(0.1)
        assert seen >= 120 * 1024
    finally:
        parent.kill()
        parent.wait()
