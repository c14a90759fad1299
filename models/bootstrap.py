"""Process setup for TensorFlow and TFX: every entry point calls ``bootstrap()`` first.

Importing this module changes nothing. ``bootstrap()`` does, in this order:

1. ``TF_USE_LEGACY_KERAS=1``: tf-keras (Keras 2) is what TFX 1.16 saves and TFMA loads; Keras 3
   rejects TFX's ``save_format='tf'``. TensorFlow reads the variable once, when it is first
   imported, so calling ``bootstrap()`` after TensorFlow was loaded without it is a bug and
   raises instead of running with the wrong Keras.
2. Quiet logs unless ``verbose``: TensorFlow's C++ logs (also read at import) and the Python
   warnings TF, TFX, Beam and TFMA print on every run.
3. AutoGraph's conversion rules (``autograph=True``; imports TensorFlow): TF 2.16's AutoGraph
   leaves modules named ``keras`` alone but not ``tf_keras``, so the first ``model.fit``
   spends ~20 s on a 2-core machine converting Keras' own source, which is written for graph
   mode already. This is TensorFlow's configuration tuple, not replaced code; it is skipped
   with the library speed-ups when ``CLICKFLOW_SPEEDUPS=0``.

Idempotent: a second call only applies what is still missing.
"""

from __future__ import annotations

import os
import sys
import warnings

# CLICKFLOW_SPEEDUPS=0 switches off every speed-up of library behaviour (see
# pipelines/local/speedups.py); read when bootstrap() runs, never at import.
SPEEDUPS_ENV = "CLICKFLOW_SPEEDUPS"
_LEGACY_KERAS = "TF_USE_LEGACY_KERAS"


def speedups_enabled() -> bool:
    """False when the user switched the speed-ups off (``CLICKFLOW_SPEEDUPS=0``)."""
    return os.environ.get(SPEEDUPS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def bootstrap(*, verbose: bool = False, autograph: bool = True) -> None:
    """Prepares this process for TensorFlow and TFX (see the module docstring).

    ``autograph=False`` for processes that never train (server, dashboard): it keeps
    TensorFlow unimported until they need it.
    """
    use_legacy_keras()
    quiet_logs(verbose)
    if autograph and speedups_enabled():
        skip_autograph_for_tf_keras()


def use_legacy_keras() -> None:
    """Sets TF_USE_LEGACY_KERAS=1, or raises if TensorFlow already loaded without it."""
    if os.environ.get(_LEGACY_KERAS) == "1":
        return
    if "tensorflow" in sys.modules:
        raise RuntimeError(
            "TensorFlow was imported before models.bootstrap.bootstrap() set "
            f"{_LEGACY_KERAS}=1, so it uses Keras 3, which TFX 1.16 cannot save with; call "
            "bootstrap() at the start of the entry point, before anything imports TensorFlow")
    os.environ[_LEGACY_KERAS] = "1"


def quiet_logs(verbose: bool) -> None:
    """Keeps TensorFlow, Beam and cloud-library chatter out of the console unless verbose."""
    if verbose:
        import logging

        logging.getLogger().setLevel(logging.INFO)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    # TFMA divides by zero for thresholds no prediction reaches; the metrics are still right.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="tensorflow_model_analysis")


def skip_autograph_for_tf_keras() -> None:
    """Adds ``DoNotConvert("tf_keras")`` to AutoGraph's conversion rules (once)."""
    from tensorflow.python.autograph.core import config as autograph_config

    if not any(getattr(r, "_prefix", None) == "tf_keras"
               for r in autograph_config.CONVERSION_RULES):
        rule = autograph_config.DoNotConvert("tf_keras")
        autograph_config.CONVERSION_RULES = (*autograph_config.CONVERSION_RULES, rule)
