"""Batch scoring: ``python -m pipelines.predict`` (``make predict``) scores a file or a span
folder of any size with a pushed model, streaming, into Parquet shards."""
