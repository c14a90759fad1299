"""kfp_rules against KFP 2.x's contract: small specs of our own that KFP's backend accepts or
refuses (each test names the kubeflow/pipelines file whose rule it exercises), our two compiled
kfp specs, and specs TFX compiles the way that KFP refused (schema 2.0.0, a Resolver node)."""

import copy
from pathlib import Path

import pytest

from pipelines.cloud import kfp_rules
from pipelines.cloud.compile import compile_spec
from pipelines.cloud.config import load_cloud_config
from pipelines.common.errors import ClickflowError

ROOT = Path(__file__).resolve().parents[2]


def _spec() -> dict:
    """One container task reading one constant parameter: what KFP 2.x runs."""
    return {
        "schemaVersion": "2.1.0", "sdkVersion": "ours", "pipelineInfo": {"name": "hello"},
        "root": {"dag": {"tasks": {"say": {
            "taskInfo": {"name": "say"}, "componentRef": {"name": "comp-say"},
            "inputs": {"parameters": {"text": {"runtimeValue": {"constant": "hi"}}}}}}}},
        "components": {"comp-say": {
            "executorLabel": "exec-say",
            "inputDefinitions": {"parameters": {"text": {"parameterType": "STRING"}}}}},
        "deploymentSpec": {"executors": {"exec-say": {"container": {
            "image": "python:3.10", "command": ["echo"],
            "args": ["{{$.inputs.parameters['text']}}"]}}}},
    }


def _rules(spec: dict) -> list[str]:
    return [v.rule for v in kfp_rules.violations(spec)]


def test_a_plain_container_pipeline_passes() -> None:
    assert kfp_rules.violations(_spec()) == []
    kfp_rules.check(_spec())


def test_an_importer_executor_passes() -> None:
    # argocompiler/importer.go: importers are the other kind the Argo compiler implements.
    spec = _spec()
    spec["deploymentSpec"]["executors"]["exec-say"] = {"importer": {
        "artifactUri": {"constant": "gs://b/x"}, "typeSchema": {"schemaTitle": "system.Artifact"}}}
    assert _rules(spec) == []


@pytest.mark.parametrize("version", ["2.0.0", "2.1.1", ""])
def test_only_schema_2_1_0_is_accepted(version) -> None:
    # template/v2_template.go: "KFP only supports schema version 2.1.0, but ..."
    spec = {**_spec(), "schemaVersion": version}
    (violation,) = kfp_rules.violations(spec)
    assert violation.rule == "schema-version" and violation.stage == "api-server"
    assert violation.message.endswith(f"but the pipeline spec has version {version}")
    assert violation.source == "backend/src/apiserver/template/v2_template.go"


@pytest.mark.parametrize(("change", "rule"), [
    (lambda s: s["pipelineInfo"].pop("name"), "pipeline-name-present"),
    (lambda s: s.pop("root"), "root-present"),
    (lambda s: s.update(notAField=1), "spec-parses"),
])
def test_an_unreadable_spec_is_an_unknown_template(change, rule) -> None:
    # template/template.go: isPipelineSpec needs a parsed spec with a name and a root; else
    # template.New says "unknown template format" and reads no further.
    spec = _spec()
    spec["schemaVersion"] = "2.0.0"  # not reported: KFP stops before the version check
    change(spec)
    (violation,) = kfp_rules.violations(spec)
    assert (violation.rule, violation.message) == (rule, "unknown template format")


@pytest.mark.parametrize(("name", "ok"), [("hello", True), ("Hello_World", True), ("___", False),
                                          ("ÉTÉ", False)])
def test_pipeline_name_needs_a_lower_case_letter_or_digit(name, ok) -> None:
    # template/v2_template.go matches its name pattern unanchored (regexp.MatchString).
    spec = _spec()
    spec["pipelineInfo"]["name"] = name
    assert _rules(spec) == ([] if ok else ["pipeline-name-format"])


@pytest.mark.parametrize("kind", ["resolver", "customJob"])
def test_only_container_and_importer_executors_compile(kind) -> None:
    # v2/compiler/visitor.go: "non-container and non-importer executor not implemented"
    # (argocompiler/dag.go: "resolver executors not implemented", "custom job executors is
    # Google Cloud only").
    spec = _spec()
    spec["deploymentSpec"]["executors"]["exec-say"] = {kind: {}}
    (violation,) = kfp_rules.violations(spec)
    assert violation.rule == "executor-kind" and violation.stage == "compiler"
    assert violation.message == ('executor(label="exec-say"): non-container and non-importer '
                                 "executor not implemented")
    assert "task 'say'" in violation.where and kind in violation.expected


def test_task_parameters_as_constant_value_never_reach_the_launcher() -> None:
    # v2/driver/driver.go reads runtimeValue.constant; schema 2.0.0's constantValue is lost.
    spec = _spec()
    spec["root"]["dag"]["tasks"]["say"]["inputs"]["parameters"]["text"] = {
        "runtimeValue": {"constantValue": {"stringValue": "hi"}}}
    (violation,) = kfp_rules.violations(spec)
    assert (violation.rule, violation.stage) == ("constant-parameter", "driver")
    assert "parameter 'text'" in violation.where


@pytest.mark.parametrize(("change", "rule", "message"), [
    (lambda s: s["root"]["dag"]["tasks"]["say"]["componentRef"].update(name="nope"),
     "component-ref", 'cannot find component ref name="nope" for task name="say" in component '
     'name="root"'),
    (lambda s: s["root"]["dag"]["tasks"]["say"]["componentRef"].update(name=""),
     "component-ref", 'component ref name is empty for task name="say"'),
    (lambda s: s["components"]["comp-say"].update(executorLabel="gone"),
     "executor-found", 'executor(label="gone") not found in deployment config'),
    (lambda s: s["components"].update(root={"dag": {"tasks": {}}}),
     "root-reserved", 'component name "root" is reserved'),
])
def test_every_reference_must_resolve(change, rule, message) -> None:
    # v2/compiler/visitor.go: Accept's walk from root through componentRef and executorLabel.
    spec = _spec()
    change(spec)
    assert [(v.rule, v.message) for v in kfp_rules.violations(spec)] == [(rule, message)]


def test_dag_and_task_rules_of_the_argo_compiler() -> None:
    # v2/compiler/argocompiler/dag.go
    spec = _spec()
    task = spec["root"]["dag"]["tasks"]["say"]
    task["artifactIterator"] = {"items": {"inputArtifact": "x"}, "itemInput": "y"}
    assert _rules(spec) == ["iterator"]
    assert kfp_rules.violations(spec)[0].message == "artifact iterator not implemented yet"
    task["parameterIterator"] = {"items": {"raw": "[1]"}, "itemInput": "y"}  # a proto oneof
    assert _rules(spec) == ["spec-parses"]
    empty = _spec()
    empty["root"]["dag"]["tasks"] = {}
    assert [v.message for v in kfp_rules.violations(empty)] == [
        "DAG root must contain one or more non-exit tasks"]


def test_check_names_the_task_and_what_kfp_expects() -> None:
    spec = _spec()
    spec["schemaVersion"] = "2.0.0"
    spec["deploymentSpec"]["executors"]["exec-say"] = {"resolver": {}}
    with pytest.raises(ClickflowError) as raised:
        kfp_rules.check(spec)
    text = str(raised.value)
    assert "2 problems" in text and "schemaVersion 2.1.0" in text
    assert "task 'say'" in text and "a container or importer executor, not resolver" in text
    assert "backend/src/v2/compiler/visitor.go" in text and "\n" not in text


@pytest.fixture(scope="module")
def cloud_config():
    return load_cloud_config(ROOT / "configs" / "cloud.example.yaml", environ={})


@pytest.mark.parametrize("tune", [False, True])
def test_our_compiled_kfp_specs_have_no_violations(cloud_config, tune) -> None:
    spec = compile_spec(cloud_config, target="kfp", tune=tune)
    assert kfp_rules.violations(spec) == []
    kfp_rules.check(copy.deepcopy(spec))
