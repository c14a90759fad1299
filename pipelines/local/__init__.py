"""The local runner's parts (``local_runner.py`` is the entry point): input checks, the
up-to-date check, progress output, run_summary.json, and the speed-ups of the local run."""
