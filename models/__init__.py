"""Model code shared by Transform, Tuner and Trainer.

tf-keras (Keras 2) is what TFX 1.16 saves and TFMA loads; TensorFlow must see this setting before it
is first imported, so every entry point imports this package first.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
