"""The speed-ups, measured: fewer calls, Beam's answers, stock libraries when refused or off."""

from __future__ import annotations

import gc
import inspect
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.internal import pickler
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.direct import transform_evaluator
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.portability.fn_api_runner import worker_handlers
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, userstate
from tfx_bsl.tfxio.tf_example_record import TFExampleRecord

from models.bootstrap import SPEEDUPS_ENV
from pipelines.common import names
from pipelines.local import speedups
from pipelines.local.beam_memo_test import _OwnProcess, _Plain, _Stateful


def _targets() -> dict[str, object]:
    return {"args": vars(core)["get_function_args_defaults"],
            "specs": vars(userstate)["get_dofn_specs"],
            "evaluator specs": vars(transform_evaluator)["get_dofn_specs"],
            "view_as": vars(PipelineOptions)["view_as"],
            "pickler": pickler.DEFAULT_PICKLE_LIB,
            "state cache": worker_handlers.STATE_CACHE_SIZE_MB,
            "unraisablehook": sys.unraisablehook,
            "tfrecord source": TFExampleRecord.BeamSource}


def _build_and_translate() -> None:
    p = beam.Pipeline()
    pairs = p | beam.Create([("k", 1), ("k", 2)]) | "Plain" >> beam.ParDo(_Plain())
    pairs | "Stateful" >> beam.ParDo(_Stateful()) | beam.Map(lambda kv: kv)
    p.to_runner_api()


def _signature_calls(monkeypatch, times: int) -> int:
    real, calls = inspect.signature, [0]

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(inspect, "signature", counting)
        for _ in range(times):
            _build_and_translate()
    return calls[0]


def test_patched_beam_makes_far_fewer_signature_calls(monkeypatch) -> None:
    stock = _signature_calls(monkeypatch, 5)
    assert "memo_dofn_signatures" in speedups.install()
    patched = _signature_calls(monkeypatch, 5)
    assert patched * 3 < stock, (patched, stock)


def test_memoized_answers_are_beams_answers() -> None:
    originals = _targets()
    speedups.install()
    options = PipelineOptions(["--direct_num_workers=3"])
    for dofn in [_Stateful(), _Plain(), _OwnProcess(True), _OwnProcess(False),
                 beam.FlatMap(_Plain().process).fn, beam.Map(len).fn] * 2:
        assert userstate.get_dofn_specs(dofn) == originals["specs"](dofn)
        assert transform_evaluator.get_dofn_specs(dofn) == originals["specs"](dofn)
        method = dofn.process
        assert core.get_function_args_defaults(method) == originals["args"](method)
    view = options.view_as(StandardOptions)
    assert view is options.view_as(StandardOptions)
    assert str(view) == str(originals["view_as"](options, StandardOptions))


def test_side_inputs_and_state_are_right_patched_and_nothing_is_cached(monkeypatch) -> None:
    caches = []

    class Recorded(worker_handlers.StateCache):
        def __init__(self, max_weight: int):
            super().__init__(max_weight)
            caches.append(self)

    monkeypatch.setattr(worker_handlers, "StateCache", Recorded)

    def run() -> None:
        with beam.Pipeline() as p:
            offset = beam.pvalue.AsSingleton(p | "Offset" >> beam.Create([10]))
            out = p | beam.Create([1, 2]) | beam.Map(lambda x, o: x + o, offset)
            assert_that(out, equal_to([11, 12]))
            seen = p | "Pairs" >> beam.Create([("k", 7), ("k", 8)]) | beam.ParDo(_Stateful())
            assert_that(seen, equal_to([("k", 1), ("k", 2)]), label="State")

    run()
    assert caches[-1]._cache  # stock: the side input is kept across bundles
    speedups.install()
    assert pickler.loads(pickler.dumps(lambda x: x + 1))(1) == 2
    run()
    assert pickler.desired_pickle_lib.__name__.endswith("cloudpickle_pickler")
    assert not caches[-1]._cache and caches[-1]._max_weight == 0  # read per bundle instead


def test_the_direct_runners_imported_name_hits_the_memo(monkeypatch) -> None:
    """transform_evaluator imported get_dofn_specs by name: it is patched there too."""
    calls = []
    real = userstate.get_dofn_specs

    def counting(dofn):
        calls.append(type(dofn).__name__)
        return real(dofn)

    monkeypatch.setattr(userstate, "get_dofn_specs", counting)
    monkeypatch.setattr(transform_evaluator, "get_dofn_specs", counting)

    def run() -> int:
        calls.clear()
        with beam.Pipeline(runner=BundleBasedDirectRunner()) as p:
            out = p | beam.Create([("k", 7), ("k", 8)]) | beam.ParDo(_Stateful())
            assert_that(out, equal_to([("k", 1), ("k", 2)]))
        return calls.count("_Stateful")

    stock = run()
    speedups.install()
    assert transform_evaluator.get_dofn_specs is userstate.get_dofn_specs is not counting
    run()
    assert stock > 1 and run() == 0  # every call of the second patched run came from the memo


def test_uninstall_restores_the_exact_originals() -> None:
    originals = _targets()
    assert speedups.install() == speedups.LIBRARY
    assert speedups.install() == speedups.LIBRARY  # idempotent
    changed = _targets()
    assert all(changed[k] is not originals[k] for k in originals if k != "unraisablehook")
    speedups.uninstall()
    assert speedups.applied() == ()
    now = _targets()
    assert all(now[k] is originals[k] or now[k] == originals[k] for k in originals), now


def test_a_leaks_patches_for_the_next_test_to_check() -> None:
    assert speedups.install() == speedups.LIBRARY  # not undone here: conftest.py must undo it


def test_b_no_patch_leaked_from_the_previous_test() -> None:
    assert speedups.applied() == ()
    assert not hasattr(core.get_function_args_defaults, "__wrapped_beam__")
    assert not hasattr(PipelineOptions.view_as, "__wrapped_beam__")
    assert transform_evaluator.get_dofn_specs is userstate.get_dofn_specs
    assert pickler.DEFAULT_PICKLE_LIB == pickler.USE_DILL
    assert worker_handlers.STATE_CACHE_SIZE_MB == 100
    assert "BeamSource" not in vars(TFExampleRecord)


def test_a_mismatched_version_refuses_with_one_notice(monkeypatch, capsys) -> None:
    real = metadata.version
    monkeypatch.setattr(metadata, "version",
                        lambda d: "2.60.0" if d == "apache-beam" else real(d))
    monkeypatch.setattr(speedups, "_noticed", set())
    originals = _targets()
    applied = speedups.install()
    speedups.install()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [line for line in lines if "apache-beam 2.60.0 is not the tested 2.59.0"]
    assert len(lines) == 1 and lines[0].startswith("clickflow: speed-ups off (")
    assert applied == ("hide_kubernetes_validate", "quiet_tf_shutdown")  # the ones not Beam's
    now = _targets()
    assert all(now[k] is originals[k] for k in originals if k != "unraisablehook")


def test_switched_off_applies_nothing(monkeypatch, capsys) -> None:
    monkeypatch.setenv(SPEEDUPS_ENV, "0")
    monkeypatch.setattr(metadata, "version", lambda d: "0.0")  # refusals would print; none do
    originals = _targets()
    assert speedups.install() == ()
    with speedups.imports_without_gc():
        assert gc.isenabled()
    assert _targets() == originals and capsys.readouterr().err == ""
    with pytest.raises(SystemExit) as exit_info:
        speedups.exit_fast(4)
    assert exit_info.value.code == 4


def test_imports_without_gc_pauses_then_freezes_and_restores() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with speedups.imports_without_gc():
            assert not gc.isenabled()
            kept = [[i] for i in range(1000)]  # long-lived objects made while paused
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(kept)
        gc.disable()
        with pytest.raises(RuntimeError), speedups.imports_without_gc():
            raise RuntimeError("an import failed")
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
        gc.unfreeze()


def test_exit_fast_finishes_threads_atexit_and_output_first(tmp_path: Path) -> None:
    script = f"""
import atexit, concurrent.futures, pathlib, threading, time
from pipelines.local import speedups
out = pathlib.Path({str(tmp_path)!r})
def late():
    time.sleep(0.3)
    (out / "thread").write_text("done")
threading.Thread(target=late).start()
pool = concurrent.futures.ThreadPoolExecutor(2)
pool.submit(lambda: None).result()  # an idle worker left behind, as libraries leave them
atexit.register(lambda: (out / "atexit").write_text("ran"))
class Late:
    def __del__(self):
        (out / "teardown").write_text("ran")  # only a normal interpreter teardown runs this
keep = Late()
print("buffered", end="")
speedups.exit_fast(3)
print("never")
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=names.REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "buffered"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()  # the teardown was skipped


def test_absl_level_is_held_for_the_block_only() -> None:
    import logging

    absl = logging.getLogger("absl")
    absl.setLevel(logging.INFO)
    with speedups.patched("pin_absl_level"):
        absl.setLevel(logging.WARNING)  # as an executor does mid-run
        assert absl.level == logging.INFO
    absl.setLevel(logging.WARNING)
    assert absl.level == logging.WARNING and "setLevel" not in vars(absl)
    absl.setLevel(logging.NOTSET)


def test_kubernetes_validate_stays_importable() -> None:
    import importlib

    speedups.install()
    assert importlib.import_module("kubernetes_validate").validate


def test_progress_lines_survive_an_executor_lowering_absl_with_speedups_off(monkeypatch) -> None:
    """Transform lowers absl's level mid-run; the progress handler must still get INFO lines,
    speed-ups on or off (the pin is an output fix, not a speed-up)."""
    import logging

    from pipelines.local.logs import ProgressLogging

    monkeypatch.setenv(SPEEDUPS_ENV, "0")
    seen: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    absl = logging.getLogger("absl")
    before = absl.level
    with ProgressLogging(Handler(), verbose=False):
        absl.setLevel(logging.WARNING)  # what an executor does
        absl.info("Component Trainer is running.")
    assert seen == ["Component Trainer is running."]
    assert "setLevel" not in vars(absl)  # undone after the run
    absl.setLevel(before)


def _examples(path: Path, rows: int, compression: str) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path), options=compression) as writer:
        for i in range(rows):
            example = tf.train.Example()
            example.features.feature["Age"].int64_list.value.append(i)
            if i % 7:  # some rows without the feature: a missing value
                example.features.feature["City"].bytes_list.value.append(f"c{i % 13}".encode())
            example.features.feature["Income"].float_list.value.extend([i / 3, -i])
            writer.write(example.SerializeToString())


def _read(tfxio, tmp_path: Path, name: str, batch_size: int | None) -> pa.Table:
    out = tmp_path / name
    with beam.Pipeline() as p:
        _ = (p | tfxio.BeamSource(batch_size) | beam.combiners.ToList()
             | beam.Map(lambda batches: pq.write_table(
                 pa.Table.from_batches(batches).combine_chunks(), str(out))))
    return pq.read_table(out)


@pytest.mark.parametrize("raw_column", [None, "__raw_record__"])
def test_fast_tfrecord_source_reads_what_tfx_bsl_reads(tmp_path: Path, raw_column) -> None:
    # The patched source must give StatisticsGen, Transform and the Evaluator the rows, columns
    # and Arrow types tfx_bsl's own BeamSource gives, over several files, gzip and not, with
    # missing values and the raw-record column TFMA asks for; with no match, the stock error.
    from tensorflow_metadata.proto.v0 import schema_pb2

    _examples(tmp_path / "a.gz", 2_500, "GZIP")
    _examples(tmp_path / "b.gz", 1, "GZIP")
    _examples(tmp_path / "c", 300, "")
    schema = schema_pb2.Schema()
    for name, kind in (("Age", schema_pb2.INT), ("City", schema_pb2.BYTES),
                       ("Income", schema_pb2.FLOAT)):
        schema.feature.add(name=name, type=kind)
    tfxio = TFExampleRecord(str(tmp_path / "[abc]*"), schema=schema,
                            raw_record_column_name=raw_column)
    stock = _read(tfxio, tmp_path, "stock.parquet", None)
    assert "fast_tfrecord_source" in speedups.install()
    assert "BeamSource" in vars(TFExampleRecord)
    for batch_size in (None, 64):
        fast = _read(tfxio, tmp_path, f"fast-{batch_size}.parquet", batch_size)
        assert fast.schema == stock.schema
        assert sorted(map(repr, fast.to_pylist())) == sorted(map(repr, stock.to_pylist()))
        assert fast.num_rows == 2_801
    nothing = TFExampleRecord(str(tmp_path / "none-*"), schema=schema)
    with pytest.raises(Exception, match="none-"), beam.Pipeline() as p:
        _ = p | nothing.BeamSource()
