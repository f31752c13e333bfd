"""Batches for `Model.fit` and `evaluate`: Keras' own pipeline for in-memory arrays,
without the stalls around every epoch.

Given NumPy arrays, Keras builds a tf.data pipeline (its ArrayDataAdapter) and makes a new
iterator of it every epoch. Destroying an iterator waits for its threads, and with
tf.data's autotuning on (Keras' default) this waited up to tens of seconds with both
cores idle: at the first step of most epochs, and after the last. That was the "slow
mode" of benchmarks/README.md. Here the same pipeline (the same batches in the same order,
so the same numbers) is built with autotuning off and its number of batches declared, as
Keras knows it for arrays. ArrayDataAdapter is a Keras internal: pyproject.toml pins Keras
to 3.15, and tests/test_batches.py checks that training matches `fit(x, y)`.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter


def fit_batches(x: np.ndarray, y, batch_size: int, shuffle: bool) -> tf.data.Dataset:
    """The batches Keras' fit (or evaluate) would make of (x, y) with this batch size and
    shuffle: y may be an array or a dict of arrays (one per output)."""
    dataset = ArrayDataAdapter(x, y, batch_size=batch_size, shuffle=shuffle).get_tf_dataset()
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(
        math.ceil(len(x) / batch_size)))
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
