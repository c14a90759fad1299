"""Continuous monitoring: skew, drift and live accuracy of the served model, and the retraining
policy that closes the feedback loop. Entry point: ``python -m pipelines.monitoring``."""
