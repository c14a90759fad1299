"""TensorFlow settings every module that builds or runs the model applies on import."""

from __future__ import annotations

from tensorflow.python.autograph.core import config as autograph_config

import models  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow loads)


def skip_autograph_for_tf_keras() -> None:
    """Stops AutoGraph from re-compiling tf-keras' own source on every first ``fit``.

    TF 2.16's AutoGraph leaves modules named ``keras`` alone but not ``tf_keras`` (the Keras 2
    that TFX needs), so the first ``model.fit`` spends ~20 s on a 2-core machine converting
    Keras internals instead of tracing the model. Keras code needs no conversion: it is written
    for graph mode already.
    """
    rule = autograph_config.DoNotConvert("tf_keras")
    if not any(getattr(r, "_prefix", None) == "tf_keras"
               for r in autograph_config.CONVERSION_RULES):
        autograph_config.CONVERSION_RULES = (*autograph_config.CONVERSION_RULES, rule)


skip_autograph_for_tf_keras()
