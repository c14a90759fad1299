"""The cloud runner's parts (``kubeflow_runner.py`` is the entry point): typed cloud settings,
compiling the graph for Vertex AI / KFP 2.x, submitting runs and schedules."""
