"""Pusher whose every served version carries its own lineage, and is never half-archived.

TFX's Pusher copies the model to ``<base>/<version>`` (``saved_model.pb`` last, since a model
server loads a version once that file is there), then archives a second copy into its
PushedModel artifact, and only after ``Do`` returns does the launcher record the PushedModel in
ML Metadata. A run killed in between leaves a version that a server loads and that ML Metadata
knows nothing of. This executor keeps TFX's contract (same properties, same version naming,
``saved_model.pb`` last) with two changes:

1. the archive copy comes first, so once a version is loadable its artifact folder is complete;
2. before ``saved_model.pb`` is copied, ``assets.extra/clickflow_push.json``
   (``names.PUSH_RECORD``) is written into the version: the pipeline, run, node and model it
   came from. A server ignores ``assets.extra`` (TF Serving reads only its warm-up file there),
   and the SavedModel fingerprint is unchanged. The next local run reads it to record a push
   that its run did not live to record (``pipelines.metadata.recovery``).

It also takes a second blessing, ``simple_model_blessing`` (the simple-model Evaluator's: the
candidate is no worse than a logistic regression on the same rows), and pushes only when both
blessings hold: TFX's Pusher has one ``model_blessing`` input, and a second Evaluator is how
TFX judges a candidate against a second baseline.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import tensorflow as tf
from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as tfx_executor
from tfx.components.util import model_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import io_utils, json_utils, proto_utils

from pipelines.common import names

_SAVED_MODEL = "saved_model.pb"
SIMPLE_MODEL_BLESSING_KEY = "simple_model_blessing"


def push_record(*, pipeline_name: str, run_id: str, node_id: str, model: types.Artifact,
                pushed_model_uri: str, destination: str, version: str) -> dict[str, Any]:
    """What ``assets.extra/clickflow_push.json`` of a pushed version says."""
    return {"pipeline_name": pipeline_name, "pipeline_run_id": run_id, "node_id": node_id,
            "model_uri": model.uri, "model_artifact_id": model.id,
            "pushed_model_uri": pushed_model_uri, "pushed_destination": destination,
            "pushed_version": version, "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                  time.gmtime())}


def read_push_record(version_dir: str) -> dict[str, Any] | None:
    """The push record of a version folder, or None (not pushed by clickflow, or unreadable)."""
    path = os.path.join(version_dir, names.PUSH_RECORD)
    try:
        with fileio.open(path) as f:
            record = json.loads(f.read())
    except (OSError, ValueError, tf.errors.OpError):
        return None
    return record if isinstance(record, dict) else None


def served_version_of(base_directory: str, model_uri: str) -> str | None:
    """The complete version folder under ``base_directory`` whose push record names the model
    at ``model_uri``, or None."""
    if not fileio.isdir(base_directory):
        return None
    for name in sorted(fileio.listdir(base_directory), reverse=True):
        version_dir = os.path.join(base_directory, name.rstrip("/"))
        if not name.rstrip("/").isdigit():
            continue
        record = read_push_record(version_dir)
        if (record and record.get("model_uri") == model_uri
                and fileio.exists(os.path.join(version_dir, _SAVED_MODEL))):
            return version_dir
    return None


class Executor(tfx_executor.Executor):
    """TFX's filesystem push, archive first and with a lineage record in the version."""

    def Do(self, input_dict: dict[str, list[types.Artifact]],
           output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict) or not simple_model_blessed(input_dict):
            self._MarkNotPushed(model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("the clickflow Pusher pushes to a filesystem destination")
        versioning = destination.filesystem.versioning
        if versioning not in (pusher_pb2.Versioning.AUTO, pusher_pb2.Versioning.UNIX_TIMESTAMP):
            raise NotImplementedError(f"Invalid Versioning {versioning}")
        model_path = self.GetModelPath(input_dict)
        model = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.MODEL_KEY])
        base = destination.filesystem.base_directory
        io_utils.copy_dir(model_path, model_push.uri)  # 1. the archive, complete before (2)
        served = served_version_of(base, model.uri)
        if served is not None:
            # A killed run pushed this very model; the next run recorded it: serve it as it is.
            logging.info("Model %s is already served as %s; not pushed again.", model.uri, served)
            self._MarkPushed(model_push, pushed_destination=served,
                             pushed_version=os.path.basename(served))
            return

        version = str(int(time.time()))
        serving_path = os.path.join(base, version)
        if fileio.exists(serving_path):
            # TFX's rule: a version of this second exists already (a re-blessed model).
            self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
            return
        io_utils.copy_dir(model_path, serving_path, deny_regex_patterns=[r"saved_model\.pb"])
        context = self._context
        node = context.pipeline_node.node_info.id if context and context.pipeline_node else ""
        pipeline = context.pipeline_info.id if context and context.pipeline_info else ""
        record = push_record(pipeline_name=pipeline, run_id=context.pipeline_run_id or "",
                             node_id=node, model=model, pushed_model_uri=model_push.uri,
                             destination=serving_path, version=version)
        record_path = os.path.join(serving_path, names.PUSH_RECORD)
        fileio.makedirs(os.path.dirname(record_path))
        with fileio.open(record_path, "w") as f:
            f.write(json.dumps(record, indent=2, sort_keys=True))
        if fileio.exists(os.path.join(model_path, _SAVED_MODEL)):  # 2. loadable from here on
            io_utils.copy_file(os.path.join(model_path, _SAVED_MODEL),
                               os.path.join(serving_path, _SAVED_MODEL))
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)


def simple_model_blessed(input_dict: dict[str, list[types.Artifact]]) -> bool:
    """Whether the simple-model blessing, when there is one, holds (TFX's rule for a
    ModelBlessing: ``model_utils.is_model_blessed``, its ``blessed`` custom property is 1)."""
    artifacts = input_dict.get(SIMPLE_MODEL_BLESSING_KEY)
    if not artifacts:
        return True
    blessing = artifact_utils.get_single_instance(artifacts)
    if model_utils.is_model_blessed(blessing):
        return True
    logging.info("Model not pushed: the simple-model Evaluator did not bless it (%s).",
                 blessing.uri)
    return False


class PusherSpec(standard_component_specs.PusherSpec):
    """TFX's PusherSpec with the optional second blessing."""

    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        SIMPLE_MODEL_BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing,
                                                    optional=True),
    }


class Pusher(pusher_component.Pusher):
    """TFX's Pusher with the executor above, and ``simple_model_blessing``."""

    SPEC_CLASS = PusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, *, model: types.BaseChannel,
                 push_destination: pusher_pb2.PushDestination,
                 model_blessing: types.BaseChannel | None = None,
                 simple_model_blessing: types.BaseChannel | None = None) -> None:
        spec = PusherSpec(
            model=model, model_blessing=model_blessing,
            simple_model_blessing=simple_model_blessing, push_destination=push_destination,
            custom_config=json_utils.dumps(None),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel))
        # TFX's Pusher.__init__ only builds its own spec; BaseComponent takes ours.
        super(pusher_component.Pusher, self).__init__(spec=spec)
