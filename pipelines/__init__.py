"""Pipelines, components and tools that feed and run the clickflow TFX pipeline."""


def __getattr__(name: str):
    """``pipelines.ModelCard``, imported when asked for: TFX's Kubeflow V2 launcher imports a
    custom artifact type by its schema title (kubeflow_v2_entrypoint_utils._parse_raw_artifact),
    and the compiler only takes titles of the form "<namespace>.<Class>" with one dot
    (compiler_utils._SCHEMA_TITLE_RE), so the type must be an attribute of a top-level package.
    """
    if name == "ModelCard":
        from pipelines.components.model_card import ModelCard

        return ModelCard
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
