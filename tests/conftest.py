"""Shared fixtures: every test runs TensorFlow with tf-keras and without GPU probing noise."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
