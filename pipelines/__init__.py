"""Pipelines, components and tools that feed and run the clickflow TFX pipeline."""
