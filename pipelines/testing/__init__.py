"""Helpers for other packages' tests and benchmarks: a small real model, logged traffic."""
