"""Our own TFX components of the graph: DuckDB ExampleGen, the anomalies gate, the eval sample,
the baseline resolver and Vertex Model Registry registration."""
