"""The local stand-ins: gs:// folders, the staged image, DirectRunner for Dataflow."""

from pathlib import Path

from pipelines.cloud.emulator.substitutions import Substitutions, split_args


def _subs() -> Substitutions:
    return Substitutions(gs_root=Path("/w/gs"), image_dir=Path("/w/image/pipeline"))


def test_gs_uris_and_image_paths_become_local_and_are_recorded() -> None:
    subs = _subs()
    text = '{"base_directory": "gs://my-bucket/serving/clickflow", "f": "/pipeline/schema/s"}'
    assert subs.text("Pusher", "parameter", text) == (
        '{"base_directory": "/w/gs/my-bucket/serving/clickflow", '
        '"f": "/w/image/pipeline/schema/s"}')
    assert subs.text("Pusher", "parameter", "/pipelines/other") == "/pipelines/other"
    assert [(s.task, s.what) for s in subs.used] == [("Pusher", "parameter")]


def test_dataflow_flags_are_replaced_by_the_direct_runner() -> None:
    subs = _subs()
    args = ["--runner=DataflowRunner", "--project=p", "--region=us-central1",
            "--temp_location=gs://bkt/tmp", "--sdk_container_image=img:1",
            "--sdk_location=container", "--experiments=use_runner_v2", "--no_use_public_ips",
            "--max_num_workers=4"]
    assert subs.beam_args("Transform", args) == [
        "--temp_location=/w/gs/bkt/tmp", "--sdk_container_image=img:1",
        "--sdk_location=container", "--runner=DirectRunner", "--direct_num_workers=1"]
    dropped = next(s for s in subs.used if s.what == "beam runner")
    assert "--runner=DataflowRunner" in dropped.cloud and "--no_use_public_ips" in dropped.cloud


def test_the_executor_flags_are_told_from_the_beam_flags() -> None:
    args = ["--executor_class_path", "a.B", "--json_serialized_invocation_args", "{{$}}",
            "--json_serialized_inputs_spec_args", "{}", "--runner=DataflowRunner"]
    assert split_args(args) == (args[:6], ["--runner=DataflowRunner"])
