"""actsearch: compare activation functions on the same Keras network, with evidence.

Importing the package registers its custom activations with Keras' serialization
registry, so saved `.keras` models reload with plain `keras.models.load_model`.
"""

import os

from actsearch.tf_output import configure_tensorflow_output, end_start_up

# Before TensorFlow is imported below. The CLI shows none of TensorFlow's C++ log lines (its
# start-up noise included); a notebook or script keeps its errors (TF_CPP_MIN_LOG_LEVEL=2).
# `actsearch run --verbose` or ACTSEARCH_TF_LOGS=1 shows everything.
_start_up = configure_tensorflow_output()  # in Python: hides TensorFlow's start-up lines
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's pooling (BFC) allocator for CPU tensors: each training step reuses the last
# one's memory instead of faulting in fresh pages (about 4,000 page faults per 20,000-image
# epoch instead of up to 1,400,000, which cost up to 10% of the CPU time with actsearch's
# input pipeline; the same numbers; benchmarks/README.md). TF_CPU_ALLOCATOR_USE_BFC=false
# keeps TensorFlow's default. No effect if TensorFlow was imported before actsearch.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

from actsearch import activations  # noqa: E402, F401  (registers custom objects with Keras)
from actsearch.activations import activation_layer  # noqa: E402
from actsearch.api import Results, load_results, run, search  # noqa: E402

end_start_up(_start_up)  # TensorFlow's device probe inside the filter, then stderr as it was
del _start_up

__all__ = ["Results", "activation_layer", "load_results", "run", "search"]

__version__ = "0.1.0"
