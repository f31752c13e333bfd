"""What the articles only describe, measured on the network as it trains.

On a fixed probe batch, before training and after every epoch, for every top-level layer
with a kernel (`conv1`, `conv2`, `dense`, `output` in the article's network) and the activation
layer named after it (`<layer>_act`, as models.ActivationFactory names it; a subclassed model
gets the gradient columns only):

- grad_norm: L2 norm of the loss gradient with respect to the kernel, before clipping
  (vanishing gradients show as early layers orders of magnitude below the last one);
- clipped_fraction: the share of that gradient the optimizer's clip would change
  (clipvalue: entries beyond the value; clipnorm: 1 if the kernel's norm exceeds it;
  global_clipnorm: 1 if the norm over all kernels does);
- dead_fraction: units (channels of a convolution) whose output magnitude is at most
  `dead_threshold` for every probe example: dead ReLUs pass no signal and no gradient;
- inactive_fraction: units whose output is at most `dead_threshold` (negative included)
  for every example: the units a ReLU would have lost, which Leaky ReLU or ELU keep alive;
- act_mean, act_std: the activation outputs' mean and standard deviation (SELU's
  self-normalising claim is mean near 0 and std near 1).

The probe runs in inference mode (no dropout), so the same weights always give the same
numbers. Its gradient is the mean over the probe (512 images by default), which is less
noisy and so slightly smaller per entry than a training batch's gradient.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from actsearch.models import is_graph_model
from actsearch.storage import EpochTable


class _ProbeTracingFilter(logging.Filter):
    """Each trial builds its own probe and traces it once, which is expected; TensorFlow
    counts those traces across trials and warns of "excessive retracing". Drop just that."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Probe._raw_measure" in message and "retracing" in message)


_FILTER = _ProbeTracingFilter()


def _drop_probe_retracing_warnings() -> None:
    """Installed when a probe is first built, not on import (no side effects on import)."""
    logger = logging.getLogger("tensorflow")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


@dataclass(frozen=True)
class ClipRule:
    """The optimizer's clipping, so the probe can say how much of a gradient it would clip."""

    clipvalue: float | None = None
    clipnorm: float | None = None
    global_clipnorm: float | None = None


def probe_indices(n_available: int, size: int, seed: int) -> np.ndarray:
    """The same images for every trial of a sweep (a seeded choice, kept sorted)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_available, size=min(size, n_available), replace=False))


class Probe:
    """Measures one model on one batch. Built once per trial; the measurement is a
    compiled tf.function so it costs about one forward and backward pass of the probe."""

    def __init__(self, model: keras.Model, x: np.ndarray, y: np.ndarray, loss: Callable,
                 clip: ClipRule, dead_threshold: float = 0.0):
        _drop_probe_retracing_warnings()
        self.x = tf.constant(x)
        self.y = tf.constant(y)
        self.loss_fn = loss  # the one training minimises
        self.clip = clip
        self.dead_threshold = dead_threshold
        self.layers = [layer for layer in model.layers if hasattr(layer, "kernel")]
        names = {layer.name for layer in model.layers}
        graph = is_graph_model(model)  # a subclassed model's layers have no symbolic outputs
        self.act_layers = [model.get_layer(f"{layer.name}_act")
                           if graph and f"{layer.name}_act" in names else None
                           for layer in self.layers]
        outputs = [a.output for a in self.act_layers if a is not None]
        self.features = (keras.Model(model.inputs, [*outputs, model.outputs[0]]) if graph
                         else lambda x, training: [model(x, training=training)])
        self._measure = tf.function(self._raw_measure)

    def _raw_measure(self):
        kernels = [layer.kernel for layer in self.layers]
        with tf.GradientTape() as tape:
            *acts, pred = self.features(self.x, training=False)
            loss = tf.reduce_mean(self.loss_fn(self.y, pred))
        grads = tape.gradient(loss, kernels)
        # reduced here, in the graph: copying the probe's activations (tens of millions of
        # numbers) out to NumPy every epoch cost more than the probe's forward pass
        return grads, [unit_reductions(a) for a in acts]

    def measure(self, epoch: int) -> list[dict]:
        grads, reductions = self._measure()
        grads = [g.numpy() for g in grads]
        norms = [float(np.linalg.norm(g)) for g in grads]
        global_norm = math.sqrt(sum(n * n for n in norms))
        act_iter = iter(reductions)
        rows = []
        for layer, act_layer, grad, norm in zip(self.layers, self.act_layers, grads, norms,
                                                strict=True):
            row = {"epoch": epoch, "layer": layer.name, "grad_norm": norm,
                   "clipped_fraction": self._clipped(grad, norm, global_norm)}
            if act_layer:
                row.update(stats_from_reductions(next(act_iter), self.dead_threshold))
            rows.append(row)
        return rows

    def _clipped(self, grad: np.ndarray, norm: float, global_norm: float) -> float:
        c = self.clip
        if c.clipvalue is not None:
            return float(np.mean(np.abs(grad) > c.clipvalue))
        if c.clipnorm is not None:
            return float(norm > c.clipnorm)
        if c.global_clipnorm is not None:
            return float(global_norm > c.global_clipnorm)
        return float("nan")


def unit_reductions(outputs: tf.Tensor) -> tuple[tf.Tensor, ...]:
    """Per unit (the last axis: a neuron or a channel) the largest |output| and the largest
    output over all examples and positions; and the mean and std of all outputs."""
    outputs = tf.cast(outputs, tf.float32)  # float32 statistics under mixed precision too
    axes = list(range(len(outputs.shape) - 1))
    return (tf.reduce_max(tf.abs(outputs), axis=axes), tf.reduce_max(outputs, axis=axes),
            tf.reduce_mean(outputs), tf.math.reduce_std(outputs))


def stats_from_reductions(reductions, dead_threshold: float) -> dict[str, float]:
    """Dead units: |output| <= threshold everywhere; inactive: output <= threshold."""
    max_abs, max_out, mean, std = (np.asarray(r) for r in reductions)
    return {
        "dead_fraction": float(np.mean(max_abs <= dead_threshold)),
        "inactive_fraction": float(np.mean(max_out <= dead_threshold)),
        "act_mean": float(mean),
        "act_std": float(std),
    }


class DiagnosticsWriter(keras.callbacks.Callback):
    """Writes <out>/diagnostics/<trial>.csv: epoch 0 (the initial weights) and every
    finished epoch, rewritten atomically each epoch and stitched on resume like the history."""

    def __init__(self, path: Path, x: np.ndarray, y: np.ndarray, loss: Callable, clip: ClipRule,
                 dead_threshold: float):
        super().__init__()
        self.table = EpochTable(path)
        self._args = (x, y, loss, clip, dead_threshold)
        self.probe: Probe | None = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.probe is None:
            self.probe = Probe(self.model, *self._args)
            self.table.start(epoch)
            if epoch == 0:
                self.table.extend(self.probe.measure(0))

    def on_epoch_end(self, epoch, logs=None):
        self.table.extend(self.probe.measure(epoch + 1))
