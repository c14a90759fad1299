"""Model code shared by Transform, Tuner and Trainer: features, preprocessing_fn, the Keras
model builder and run_fn, tuner_fn. Importing it changes nothing; entry points call
``models.bootstrap.bootstrap()`` before TensorFlow is imported."""
