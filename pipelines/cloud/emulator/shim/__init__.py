"""The folder put on each task process's PYTHONPATH (beside the staged image): its
``sitecustomize`` swaps, by name, the few clients that would reach Google Cloud."""
