"""kfp_rules on specs TFX itself compiles the two ways KFP 2.x refused ours: schema 2.0.0
(``use_pipeline_spec_2_1=False``) and a ``Resolver(LatestBlessedModelStrategy)`` node."""

import pytest

from pipelines.cloud import kfp_rules

IMAGE = "us-docker.pkg.dev/p/r/pipeline:1"


def _tiny_pipeline(*, resolver: bool):
    from tfx import v1 as tfx
    from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
        LatestBlessedModelStrategy,
    )
    from tfx.types import Channel, standard_artifacts

    components = [tfx.components.ImportSchemaGen(schema_file="/pipeline/schema/schema.pbtxt")]
    if resolver:
        components.append(tfx.dsl.Resolver(
            strategy_class=LatestBlessedModelStrategy,
            model=Channel(type=standard_artifacts.Model),
            model_blessing=Channel(type=standard_artifacts.ModelBlessing)).with_id("latest"))
    return tfx.dsl.Pipeline(pipeline_name="tiny", pipeline_root="gs://b/root",
                            components=components)


def _compile(*, resolver: bool, spec_2_1: bool) -> dict:
    from tfx.orchestration.kubeflow.v2.kubeflow_v2_dag_runner import (
        KubeflowV2DagRunner,
        KubeflowV2DagRunnerConfig,
    )

    runner = KubeflowV2DagRunner(config=KubeflowV2DagRunnerConfig(
        default_image=IMAGE, use_pipeline_spec_2_1=spec_2_1))
    return runner.run(_tiny_pipeline(resolver=resolver), write_out=False)["pipelineSpec"]


@pytest.fixture(scope="module")
def specs() -> dict:
    return {(resolver, spec_2_1): _compile(resolver=resolver, spec_2_1=spec_2_1)
            for resolver, spec_2_1 in ((False, True), (False, False), (True, True))}


def test_tfx_schema_2_1_spec_of_plain_components_passes(specs) -> None:
    assert kfp_rules.violations(specs[(False, True)]) == []


def test_tfx_schema_2_0_spec_is_refused_and_its_parameters_would_be_lost(specs) -> None:
    # template/v2_template.go refuses the version; v2/driver/driver.go would not hand the
    # ImportSchemaGen's schema_file (a 2.0.0 constantValue) to the launcher.
    found = kfp_rules.violations(specs[(False, False)])
    assert [(v.rule, v.stage) for v in found] == [("schema-version", "api-server"),
                                                  ("constant-parameter", "driver")]
    assert found[0].message == ("KFP only supports schema version 2.1.0, but the pipeline "
                                "spec has version 2.0.0")
    assert found[1].where == "task 'ImportSchemaGen' parameter 'schema_file'"


def test_tfx_resolver_node_compiles_to_executors_kfp_cannot_run(specs) -> None:
    # v2/compiler/visitor.go (and argocompiler/dag.go): no resolver executors on KFP.
    found = kfp_rules.violations(specs[(True, True)])
    assert {v.rule for v in found} == {"executor-kind"}
    assert sorted(v.where.split("'")[1] for v in found) == [
        "latest-model-blessing-resolver", "latest-model-resolver"]
    with pytest.raises(kfp_rules.KfpSpecError, match="not resolver"):
        kfp_rules.check(specs[(True, True)])


def test_compile_for_kfp_refuses_a_graph_kfp_would_refuse(monkeypatch, tmp_path, capsys) -> None:
    """`kubeflow_runner.py compile --target kfp` checks the spec before writing it: a graph with
    a Resolver node exits 2 with one line naming the executor, and writes no file."""
    import kubeflow_runner
    from pipelines.cloud import compile as cloud_compile

    monkeypatch.setattr(cloud_compile, "build_pipeline",
                        lambda c, target, tune: _tiny_pipeline(resolver=True))
    out = tmp_path / "spec.json"
    from pathlib import Path

    example = str(Path(__file__).resolve().parents[2] / "configs" / "cloud.example.yaml")
    rc = kubeflow_runner.main(["compile", "--config", example, "--target", "kfp",
                               "--output", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert "non-container and non-importer executor not implemented" in err
    assert "Traceback" not in err
    # Vertex runs resolver executors: the same graph compiles for it.
    assert kubeflow_runner.main(["compile", "--config", example, "--target", "vertex",
                                 "--output", str(out)]) == 0
