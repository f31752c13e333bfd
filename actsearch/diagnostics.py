"""What the articles only describe, measured on the network as it trains.

On a fixed probe batch, before training, after each of the first `diagnostics.every`
epochs (where the early dynamics are), then every `every`-th epoch and after the last
(describe_probe says which), for every top-level layer
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
noisy and so slightly smaller per entry than a training batch's gradient. Fewer images would
be cheaper but change the numbers: the mean gradient's norm grows with the sampling noise and
rarely active units read dead (benchmarks/README.md), so the cost is cut by measuring less
often (`every`) and by reducing everything inside the compiled probe instead.
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

from actsearch.config import DiagnosticsConfig
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

    def _raw_measure(self) -> tuple[tf.Tensor, tf.Tensor, list[dict[str, tf.Tensor]]]:
        kernels = [layer.kernel for layer in self.layers]
        with tf.GradientTape() as tape:
            *acts, pred = self.features(self.x, training=False)
            loss = tf.reduce_mean(self.loss_fn(self.y, pred))
        grads = [tf.cast(g, tf.float32) for g in tape.gradient(loss, kernels)]
        # everything reduced here, in the graph, to a few scalars per layer: copying the
        # probe's activations (tens of millions of numbers) or the gradients (a million) out
        # to NumPy cost more than the arithmetic
        norms = tf.stack([tf.norm(g) for g in grads])
        clipvalue = self.clip.clipvalue
        over = tf.stack([tf.reduce_mean(tf.cast(tf.abs(g) > clipvalue, tf.float32))
                         if clipvalue is not None else tf.constant(math.nan) for g in grads])
        return norms, over, [unit_statistics(a, self.dead_threshold) for a in acts]

    def measure(self, epoch: int) -> list[dict]:
        norms, over, stats = self._measure()
        norms, over = norms.numpy().astype(float), over.numpy().astype(float)
        global_norm = math.sqrt(float(np.sum(norms * norms)))
        act_iter = iter(stats)
        rows = []
        for i, (layer, act_layer) in enumerate(zip(self.layers, self.act_layers, strict=True)):
            row = {"epoch": epoch, "layer": layer.name, "grad_norm": float(norms[i]),
                   "clipped_fraction": self._clipped(float(over[i]), float(norms[i]),
                                                     global_norm)}
            if act_layer:
                row.update({k: float(v) for k, v in next(act_iter).items()})
            rows.append(row)
        return rows

    def _clipped(self, over_clipvalue: float, norm: float, global_norm: float) -> float:
        """`over_clipvalue`: the share of entries beyond clipvalue (measured in the graph)."""
        c = self.clip
        if c.clipvalue is not None:
            return over_clipvalue
        if c.clipnorm is not None:
            return float(norm > c.clipnorm)
        if c.global_clipnorm is not None:
            return float(global_norm > c.global_clipnorm)
        return float("nan")


def unit_statistics(outputs: tf.Tensor, dead_threshold: float) -> dict[str, tf.Tensor]:
    """Per unit (the last axis: a neuron or a channel) the largest |output| and the largest
    output over all examples and positions give the dead (|output| <= threshold everywhere)
    and inactive (output <= threshold everywhere) shares of units; and the mean and std of
    all outputs. max |x| is max(max x, -min x): no |x| copy of a large tensor."""
    outputs = tf.cast(outputs, tf.float32)  # float32 statistics under mixed precision too
    axes = list(range(len(outputs.shape) - 1))
    largest = tf.reduce_max(outputs, axis=axes)
    max_abs = tf.maximum(largest, -tf.reduce_min(outputs, axis=axes))
    mean, variance = tf.nn.moments(outputs, axes=list(range(len(outputs.shape))))
    return {
        "dead_fraction": tf.reduce_mean(tf.cast(max_abs <= dead_threshold, tf.float32)),
        "inactive_fraction": tf.reduce_mean(tf.cast(largest <= dead_threshold, tf.float32)),
        "act_mean": mean,
        "act_std": tf.sqrt(variance),
    }


def describe_probe(d: DiagnosticsConfig) -> str:
    """One sentence for the report: how many images, and after which epochs."""
    when = ("after every epoch" if d.every == 1 else
            f"after each of the first {d.every} epochs, then every {d.every} epochs and after "
            "the last")
    return f"The probe: {d.probe_size} training images, before training and {when}."


def measured_epoch(epoch: int, every: int, epochs: int | None) -> bool:
    """Is the probe run after `epoch` (numbered from 1)? Each of the first `every` epochs
    (where sigmoid escapes its plateau; the report's table reads epoch 1), then every
    `every`-th, and the last epoch always."""
    return epoch <= every or epoch % every == 0 or epoch == epochs


class DiagnosticsWriter(keras.callbacks.Callback):
    """Writes <out>/diagnostics/<trial>.csv: epoch 0 (the initial weights), the epochs
    measured_epoch picks and the last one (also when training stops early), rewritten
    atomically each time and stitched on resume like the history."""

    def __init__(self, path: Path, x: np.ndarray, y: np.ndarray, loss: Callable, clip: ClipRule,
                 dead_threshold: float, every: int = 1):
        super().__init__()
        self.table = EpochTable(path)
        self._args = (x, y, loss, clip, dead_threshold)
        self.every = every
        self.probe: Probe | None = None
        self._last: int | None = None  # the last epoch this fit finished, if not yet measured

    def on_epoch_begin(self, epoch, logs=None):
        if self.probe is None:
            self.probe = Probe(self.model, *self._args)
            self.table.start(epoch)
            if epoch == 0:
                self.table.extend(self.probe.measure(0))

    def on_epoch_end(self, epoch, logs=None):
        self._last = epoch + 1
        if measured_epoch(epoch + 1, self.every, (self.params or {}).get("epochs")):
            self.table.extend(self.probe.measure(epoch + 1))
            self._last = None

    def on_train_end(self, logs=None):
        """Training stopped before its last epoch (early stopping, a non-finite loss): the
        epoch it ended on is measured too."""
        if self._last is not None:
            self.table.extend(self.probe.measure(self._last))
            self._last = None
