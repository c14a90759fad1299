"""The proxy phase's bookkeeping: direct and proxied requests alternate one by one, warm-up
requests are not measured, and failures and differing answers are counted, not hidden."""

from __future__ import annotations

import time

from experiments.benchmarks.serving.proxy import _alternate


def test_alternate_sends_direct_then_proxied_and_counts_what_went_wrong() -> None:
    sent: list[tuple[str, int]] = []

    def send(target: str, i: int) -> str:
        sent.append((target, i))
        if target == "proxy" and i == 3:
            raise ConnectionError("502 the model server behind this proxy did not answer")
        return "other" if (target, i) == ("proxy", 4) else f"answer-{i}"

    out = _alternate(send, count=4, warmup=2, deadline=time.monotonic() + 60)
    assert sent == [(t, i) for i in range(6) for t in ("direct", "proxy")]
    assert out["direct"]["count"] == 4 and out["direct"]["failed"] == 0
    assert out["proxy"]["count"] == 3 and out["proxy"]["failed"] == 1
    assert out["proxy"]["failures"] == ["502 the model server behind this proxy did not answer"]
    assert out["answers_differ"] == 1  # i == 4; i == 3 had no proxied answer to compare


def test_alternate_stops_at_the_deadline() -> None:
    out = _alternate(lambda target, i: i, count=100, warmup=0, deadline=time.monotonic() - 1)
    assert out["direct"]["count"] == out["proxy"]["count"] == 0


def test_peak_rss_reads_a_live_process_and_none_for_a_gone_one() -> None:
    import os

    from experiments.benchmarks.serving.proxy import _peak_rss_mib

    assert _peak_rss_mib(os.getpid()) > 10  # this interpreter, with pytest loaded
    assert _peak_rss_mib(None) is None
