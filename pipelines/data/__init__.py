"""Data in: the training query and its DuckDB source, span storage (``spans``), the synthetic
generator (``generator``, its command line in ``__main__``) and its drift presets (``drift``),
and the schema proposal."""
