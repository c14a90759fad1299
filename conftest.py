"""Every test session runs as the entry points do: bootstrap() before TensorFlow is imported."""

from models.bootstrap import bootstrap

bootstrap()
