"""A user's network that records what it is fed: `recording_builder:mlp` is actsearch's mlp
(depth 1, width 16) behind a layer that appends one line per TRAINING batch to
`$ACTSEARCH_RECORD_DIR/<activation>.txt`: the batch's images as keys (each image's pixels
weighted by fixed random numbers), so a test sees the batch order from inside the network,
not from actsearch's code. `ACTSEARCH_PAUSE=<activation>:<k>` makes the k-th training batch of
that activation write `<activation>.paused` and wait forever: a test kills the run there,
exactly in the middle of an epoch, whatever the machine's speed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from actsearch.models import mlp as actsearch_mlp


def image_keys(x: np.ndarray) -> np.ndarray:
    """One number per image, the same inside and outside the network."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    weights = np.random.default_rng(0).random(flat.shape[1])
    return np.round(flat @ weights, 3)


class Recorder(keras.layers.Layer):
    def __init__(self, activation: str, **kwargs):
        super().__init__(**kwargs)
        self.activation = activation

    def _write(self, batch: np.ndarray) -> np.float32:
        folder = Path(os.environ["ACTSEARCH_RECORD_DIR"])
        path = folder / f"{self.activation}.txt"
        with path.open("a") as f:
            f.write(" ".join(f"{k:.3f}" for k in image_keys(batch)) + "\n")
        pause = os.environ.get("ACTSEARCH_PAUSE", "")
        if pause.rpartition(":")[0] == self.activation:
            with path.open() as f:
                lines = sum(1 for _ in f)
            if lines == int(pause.rpartition(":")[2]):
                (folder / f"{self.activation}.paused").touch()
                time.sleep(3600)
        return np.float32(0.0)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        written = tf.ensure_shape(
            tf.numpy_function(self._write, [inputs], tf.float32, stateful=True), [])
        return inputs + 0.0 * written  # a data dependency: the record is written first


def mlp(act, input_shape, num_classes):
    inner = actsearch_mlp(act, input_shape, num_classes, depth=1, width=16)
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, inner(Recorder(act.name)(inputs)), name=f"recording_{act.name}")
