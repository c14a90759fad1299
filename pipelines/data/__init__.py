"""Data in: the training query and its DuckDB source, spans, the synthetic generator and its
drift presets, and the schema proposal."""
