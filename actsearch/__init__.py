"""actsearch: compare activation functions on the same Keras network, with evidence.

Importing the package registers its custom activations with Keras' serialization
registry, so saved `.keras` models reload with plain `keras.models.load_model`.
"""

import os

# Keep TensorFlow's C++ info and warning logs out of our progress lines (errors still show;
# TF_CPP_MIN_LOG_LEVEL=0 brings them back). TensorFlow 2.21 still prints a few start-up
# lines (oneDNN, CUDA probing) before its logging reads this setting.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from actsearch import activations  # noqa: E402, F401  (registers custom objects with Keras)
from actsearch.api import Results, load_results, run  # noqa: E402

__all__ = ["Results", "load_results", "run"]

__version__ = "0.1.0"
