"""The optimizer: Adam with the article's gradient clipping, updated by TensorFlow's fused
Adam kernel.

Keras 3 writes Adam's update in backend-neutral ops, about a dozen passes over every weight
tensor per step; tf.keras 2, which the article ran on, called TensorFlow's fused
`ResourceApplyAdam` kernel, one pass with the same formula. On the article's CNN the
Keras 3 update is 6% of a training step on CPU, and the fused kernel makes whole epochs
2-3% faster (benchmarks/README.md). The optimizer stays a plain `keras.optimizers.Adam`
(only this instance's update is swapped), so saved models load anywhere without actsearch.
The numbers differ from Keras 3's Adam by float rounding only (Keras computes `1 - beta_1`
in double precision, the kernel in float32); `training.optimizer.fused_kernel: false` gives
Keras 3's own update.

The kernel call reads Adam's slots through Keras' private attributes (FUSED_KERNEL_NEEDS), so
pyproject pins keras to the minor version the tests check it against; a Keras that keeps them
elsewhere gets its own update and a one-line notice instead of a crash or a wrong step.
"""

from __future__ import annotations

import functools
import sys
import types

import keras
import numpy as np
from keras import ops

from actsearch.config import OptimizerConfig


def make_optimizer(cfg: OptimizerConfig) -> keras.optimizers.Optimizer:
    clip = {k: getattr(cfg, k) for k in ("clipvalue", "clipnorm", "global_clipnorm")}
    clip = {k: v for k, v in clip.items() if v is not None}
    optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate, **clip)
    if cfg.fused_kernel and keras.backend.backend() == "tensorflow":
        use_fused_kernel(optimizer)
    return optimizer


FUSED_KERNEL_NEEDS = ("_momentums", "_velocities", "_get_variable_index")


def use_fused_kernel(optimizer: keras.optimizers.Adam) -> bool:
    """Swap this optimizer's update for the fused kernel if its Keras keeps Adam's slots where
    the kernel call reads them; else leave Keras' own update (and say so, once)."""
    if _missing_adam_internals(type(optimizer)):
        return False
    optimizer.update_step = types.MethodType(_fused_adam_update, optimizer)
    return True


@functools.cache
def _missing_adam_internals(cls: type[keras.optimizers.Adam]) -> tuple[str, ...]:
    """The private attributes the kernel call needs that a built `cls` lacks (amsgrad, which
    the kernel does not do, counts as missing); prints the fallback notice once per class."""
    probe = cls(name="fused_kernel_probe")
    probe.build([keras.Variable(np.zeros(1, dtype="float32"), name="fused_kernel_probe")])
    missing = tuple(name for name in FUSED_KERNEL_NEEDS if not hasattr(probe, name))
    if getattr(probe, "amsgrad", True):
        missing += ("amsgrad=False",)
    if missing:
        print(f"actsearch: notice: Keras {keras.__version__}'s {cls.__name__} lacks "
              f"{', '.join(missing)}; training.optimizer.fused_kernel falls back to Keras' own "
              f"Adam update", file=sys.stderr)
    return missing


def _fused_adam_update(self: keras.optimizers.Adam, gradient, variable, learning_rate):
    """Adam.update_step (Keras 3.x, TensorFlow backend, amsgrad off) as one kernel call;
    clipping has already been applied to `gradient` by the base optimizer."""
    import tensorflow as tf

    dtype = variable.dtype
    step = ops.cast(self.iterations + 1, dtype)
    index = self._get_variable_index(variable)
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=self._momentums[index].handle,
        v=self._velocities[index].handle,
        beta1_power=ops.power(ops.cast(self.beta_1, dtype), step),
        beta2_power=ops.power(ops.cast(self.beta_2, dtype), step),
        lr=ops.cast(learning_rate, dtype), beta1=ops.cast(self.beta_1, dtype),
        beta2=ops.cast(self.beta_2, dtype), epsilon=ops.cast(self.epsilon, dtype),
        grad=ops.cast(gradient, dtype))
