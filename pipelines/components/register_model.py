"""Registers each pushed model in Vertex AI Model Registry, as a new version of one model.

The Pusher stays the source of truth for serving (TF Serving on GKE watches its base path);
the registry entry points at the very same ``gs://`` version folder, so a registry version and
a TF Serving version are one model. Versions accumulate under the registry model whose display
name is the model name; the first push creates it.

This module holds a TFX function component, so it must not use ``from __future__ import
annotations``: the decorator reads the parameter annotations as real types.
"""

import re

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from pipelines.common.errors import ClickflowError

PUSHED_KEY = "pushed"
PUSHED_DESTINATION_KEY = "pushed_destination"
PUSHED_VERSION_KEY = "pushed_version"
REGISTERED_MODEL_KEY = "registered_model"
SKIPPED_NOT_PUSHED = "skipped: not pushed"
# Vertex label values and version aliases: lowercase letters, digits, '_' and '-'.
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{1,63}$")


class RegistrationError(ClickflowError, ValueError):
    """The pushed model cannot be registered; the message names the property and why."""


def push_properties(pushed_model) -> dict:
    """The Pusher's custom properties on a PushedModel artifact (missing ones are left out).

    ``pushed`` comes back as an int: between Kubeflow V2 steps the Pusher's int arrives as a
    JSON number, and TFX's getter returns None for a JSON 0.
    """
    props = {}
    for key in (PUSHED_KEY, PUSHED_DESTINATION_KEY, PUSHED_VERSION_KEY):
        if pushed_model.has_custom_property(key):
            props[key] = pushed_model.get_custom_property(key)
    if PUSHED_KEY in props:
        props[PUSHED_KEY] = int(props[PUSHED_KEY] or 0)
    return props


def model_list_filter(model_name: str) -> str:
    """The ``aiplatform.Model.list`` filter that finds the registry model of ``model_name``."""
    return f'display_name="{model_name}"'


def upload_kwargs(props: dict, *, model_name: str, serving_image: str, project: str,
                  location: str, parent_model: str = "") -> dict:
    """Arguments of ``aiplatform.Model.upload`` for a pushed model, or {} when not pushed.

    ``parent_model`` (a registry resource name) makes the upload a new version of that model
    instead of a new model.
    """
    if int(props.get(PUSHED_KEY, 0) or 0) != 1:
        return {}
    destination = str(props.get(PUSHED_DESTINATION_KEY, "") or "").rstrip("/")
    if not destination.startswith("gs://") or destination == "gs:":
        raise RegistrationError(
            f"PushedModel property {PUSHED_DESTINATION_KEY}={destination!r}: expected the "
            "gs:// folder the Pusher wrote the model version to (Vertex AI Model Registry "
            "only reads Cloud Storage)")
    for name, value in (("model_name", model_name), ("serving_image", serving_image),
                        ("project", project), ("location", location)):
        if not value:
            raise RegistrationError(f"RegisterModel parameter {name} is empty: expected a value")
    kwargs = {
        "display_name": model_name,
        "artifact_uri": destination,
        "serving_container_image_uri": serving_image,
        "project": project,
        "location": location,
        "labels": {"model_name": model_name},
        "sync": True,
    }
    version = str(props.get(PUSHED_VERSION_KEY, "") or "")
    if version:
        if not _LABEL_VALUE_RE.match(version):
            raise RegistrationError(
                f"PushedModel property {PUSHED_VERSION_KEY}={version!r}: expected a TF Serving "
                "version number (digits)")
        kwargs["labels"]["pushed_version"] = version
        kwargs["version_aliases"] = [f"v{version}"]
        kwargs["version_description"] = f"TF Serving version {version} at {destination}"
    if parent_model:
        kwargs["parent_model"] = parent_model
    return kwargs


def choose_parent(models: list) -> str:
    """The resource name that new versions go under: the oldest model of the name, or ''.

    ``models`` are (create_time, resource_name) pairs; taking the oldest keeps the choice stable
    if someone else created a second model of the same display name.
    """
    return min(models)[1] if models else ""


@component
def RegisterModel(
    pushed_model: InputArtifact[standard_artifacts.PushedModel],
    registered_model: OutputArtifact[standard_artifacts.String],
    model_name: Parameter[str],
    serving_image: Parameter[str],
    project: Parameter[str],
    location: Parameter[str],
) -> None:
    """Uploads the pushed version to Vertex AI Model Registry; records what it did."""
    props = push_properties(pushed_model)
    if int(props.get(PUSHED_KEY, 0) or 0) != 1:
        registered_model.value = SKIPPED_NOT_PUSHED
        registered_model.set_string_custom_property(REGISTERED_MODEL_KEY, SKIPPED_NOT_PUSHED)
        return
    # Validate before importing aiplatform (slow) or calling the cloud.
    upload_kwargs(props, model_name=model_name, serving_image=serving_image, project=project,
                  location=location)
    from google.cloud import aiplatform

    existing = aiplatform.Model.list(filter=model_list_filter(model_name), project=project,
                                     location=location)
    parent = choose_parent([(m.create_time, m.resource_name) for m in existing])
    model = aiplatform.Model.upload(**upload_kwargs(
        props, model_name=model_name, serving_image=serving_image, project=project,
        location=location, parent_model=parent))
    name = f"{model.resource_name}@{model.version_id}"
    registered_model.value = name
    registered_model.set_string_custom_property(REGISTERED_MODEL_KEY, name)

