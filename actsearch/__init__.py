"""actsearch: compare activation functions on the same Keras network, with evidence.

Importing the package registers its custom activations with Keras' serialization
registry, so saved `.keras` models reload with plain `keras.models.load_model`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ start-up chatter out

from actsearch import activations  # noqa: E402, F401  (registers custom objects with Keras)
from actsearch.api import Results, load_results, run  # noqa: E402

__all__ = ["Results", "load_results", "run"]

__version__ = "0.1.0"
