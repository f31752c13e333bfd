"""Batches for `Model.fit` and `evaluate`: the training order is actsearch's own, a new
permutation of the training set every epoch, drawn from (seed, epoch) alone.

Keras 2's `fit` (the article's) shuffled the training set anew at every epoch's start.
Keras 3's `fit`, given arrays after `keras.utils.set_random_seed`, feeds the same order in
every epoch (tensorflow/tensorflow#29558 is the same trap). So the order is owned here:
`epoch_order(seed, epoch, n)` is the permutation of epoch `epoch` (counted from 0), the same
in every process, for every activation of a seed, and after a resume, because it depends on
nothing else. `training.shuffle: once` keeps Keras 3's seeded behaviour (one order for the
whole run, drawn from TensorFlow's global generator after the model is built) for folders
made before this existed; `false` keeps the data's order.

The pipeline is the shape of Keras' own for arrays (a permutation of indices, batched, then
gathered from the arrays in memory), built with tf.data's autotuning off and its number of
batches declared: with autotuning on, destroying each epoch's iterator waited up to tens of
seconds with both cores idle (the "slow mode" of benchmarks/README.md), and without the
declared length Keras treats the data as of unknown size.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from actsearch.errors import UserError


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which epoch `epoch` (from 0) of a run with this seed visits n training
    samples: batch i is order[i * batch_size:(i + 1) * batch_size]."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class EpochOrder(keras.callbacks.Callback):
    """Tells the training batches which epoch starts, from Keras' own epoch count (also after
    BackupAndRestore resumed a run), before the epoch's iterator is made."""

    def __init__(self, epoch: tf.Variable):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)


def training_batches(x: np.ndarray, y, batch_size: int, shuffle: str | bool, seed: int,
                     epochs: int) -> tuple[tf.data.Dataset, list[keras.callbacks.Callback]]:
    """(the training batches, the callbacks `fit` needs for them) for this training.shuffle
    mode; y may be an array or a dict of arrays (one per output)."""
    if shuffle == "once":
        return keras_batches(x, y, batch_size, shuffle=True), []
    n = len(x)
    if shuffle == "epoch":
        table = np.stack([epoch_order(seed, e, n) for e in range(epochs)])
    else:
        table = np.arange(n)[None, :]
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    rows = tf.constant(table, dtype=tf.int64)

    def order(_):
        return tf.gather(rows, tf.minimum(epoch, len(table) - 1))

    indices = tf.data.Dataset.range(1).map(order)
    return _gathered(indices, x, y, batch_size), [EpochOrder(epoch)]


def fit_batches(x: np.ndarray, y, batch_size: int) -> tf.data.Dataset:
    """Batches in the data's order (validation, test, evaluation)."""
    indices = tf.data.Dataset.range(1).map(lambda _: tf.range(len(x), dtype=tf.int64))
    return _gathered(indices, x, y, batch_size)


def _gathered(indices: tf.data.Dataset, x: np.ndarray, y, batch_size: int) -> tf.data.Dataset:
    """One epoch of batches: each element of `indices` is a whole epoch's order."""
    n = len(x)
    inputs = (tf.constant(x), tf.nest.map_structure(tf.constant, y))
    dataset = indices.flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size))
    dataset = dataset.map(lambda i: tf.nest.map_structure(lambda a: tf.gather(a, i), inputs))
    return _declared(dataset.prefetch(1), math.ceil(n / batch_size))


def keras_batches(x: np.ndarray, y, batch_size: int, shuffle: bool) -> tf.data.Dataset:
    """The batches Keras 3's own fit makes of arrays (ArrayDataAdapter, a Keras internal,
    imported only here): `training.shuffle: once`."""
    try:
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    except ImportError:
        raise UserError("training.shuffle: once needs Keras 3's ArrayDataAdapter, which this "
                           f"Keras ({keras.__version__}) no longer has") from None
    dataset = ArrayDataAdapter(x, y, batch_size=batch_size, shuffle=shuffle).get_tf_dataset()
    return _declared(dataset, math.ceil(len(x) / batch_size))


def _declared(dataset: tf.data.Dataset, batches: int) -> tf.data.Dataset:
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
