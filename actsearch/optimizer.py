"""The optimizer: any Keras optimizer by name with its arguments, the article's gradient
clipping, an optional learning-rate schedule, and for Adam TensorFlow's fused Adam kernel.

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

import difflib
import functools
import inspect
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from actsearch.config import OptimizerConfig, ScheduleConfig
from actsearch.errors import UserError
from actsearch.registry import Registry

CLIP_KEYS = ("clipvalue", "clipnorm", "global_clipnorm")
OWN_KEYS = ("learning_rate", *CLIP_KEYS)  # set by their own keys, never in options
NOT_BY_NAME = ("LossScaleOptimizer", "MultiOptimizer")  # wrap other optimizers

OPTIMIZERS: Registry[type[keras.optimizers.Optimizer]] = Registry("optimizer")
for _name in dir(keras.optimizers):
    _cls = getattr(keras.optimizers, _name)
    if (isinstance(_cls, type) and issubclass(_cls, keras.optimizers.Optimizer)
            and _cls is not keras.optimizers.Optimizer and _name not in NOT_BY_NAME):
        OPTIMIZERS.register(_name.lower(), _cls)  # the names keras.optimizers.get resolves


def make_optimizer(cfg: OptimizerConfig, steps_per_epoch: int | None = None,
                   epochs: int | None = None) -> keras.optimizers.Optimizer:
    """The configured optimizer; a schedule needs the trial's `steps_per_epoch` and `epochs`
    (the data decides them). Adam takes the fused kernel unless told not to or amsgrad."""
    cls = OPTIMIZERS.get(cfg.name)
    learning_rate = cfg.learning_rate
    if cfg.schedule is not None:
        if steps_per_epoch is None or epochs is None:
            raise ValueError("a learning-rate schedule needs steps_per_epoch and epochs")
        learning_rate = make_schedule(cfg.schedule, cfg.learning_rate, steps_per_epoch, epochs)
    clip = {k: getattr(cfg, k) for k in CLIP_KEYS if getattr(cfg, k) is not None}
    optimizer = cls(learning_rate=learning_rate, **clip, **cfg.options)
    if (cfg.fused_kernel and cls is keras.optimizers.Adam and not optimizer.amsgrad
            and keras.backend.backend() == "tensorflow"):
        use_fused_kernel(optimizer)
    return optimizer


def describe_optimizer(cfg: OptimizerConfig) -> str:
    """One phrase for reports: "Adam lr 0.001", "SGD (momentum=0.9, nesterov=True) lr 0.05,
    cosine decay (alpha=0.1)"; clipping is left to the caller."""
    cls = OPTIMIZERS.get(cfg.name)
    options = ", ".join(f"{k}={v}" for k, v in cfg.options.items())
    text = f"{cls.__name__}{f' ({options})' if options else ''} lr {cfg.learning_rate}"
    if cfg.schedule is not None:
        s = cfg.schedule
        settings = ", ".join(f"{k}={getattr(s, k)}" for k in SCHEDULE_KEYS
                             if getattr(s, k) is not None)
        text += f", {s.name} decay{f' ({settings})' if settings else ''}"
    return text


def check_optimizer(cfg: OptimizerConfig, epochs: int) -> None:
    """Refuse, in one line and before anything trains, an unknown optimizer or schedule, an
    argument the optimizer does not take, or values its constructor rejects."""
    key = "training.optimizer"
    cls = OPTIMIZERS.get(OPTIMIZERS.canonical(cfg.name, f"{key}.name"))
    takes = [p.name for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
             if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
             and p.name not in (*OWN_KEYS, "name")]
    for option in cfg.options:
        if option in OWN_KEYS:
            raise UserError(f"{key}.options.{option}: set {key}.{option} instead")
        if option not in takes:
            close = difflib.get_close_matches(option, takes, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"{key}.options: {cls.__name__} takes no argument {option!r}{hint}; "
                            f"it takes {', '.join(takes)}")
    if cfg.schedule is not None:
        check_schedule(cfg.schedule)
    try:
        make_optimizer(cfg, steps_per_epoch=1, epochs=epochs)
    except (ValueError, TypeError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise UserError(f"{key}: {cls.__name__} refuses its settings: {lines[0]}") from None


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    description: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    build: Callable[[ScheduleConfig, float, int, int], keras.optimizers.schedules.
                    LearningRateSchedule]  # (section, learning_rate, steps_per_epoch, epochs)


def _cosine(s: ScheduleConfig, lr: float, steps_per_epoch: int, epochs: int):
    warmup = (s.warmup_epochs or 0) * steps_per_epoch
    decay = epochs * steps_per_epoch - warmup
    alpha = s.alpha or 0.0
    if warmup:  # from 0 up to learning_rate, then the cosine down to alpha x learning_rate
        return keras.optimizers.schedules.CosineDecay(0.0, decay, alpha, warmup_target=lr,
                                                      warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(lr, decay, alpha)


def _exponential(s: ScheduleConfig, lr: float, steps_per_epoch: int, epochs: int):
    return keras.optimizers.schedules.ExponentialDecay(lr, steps_per_epoch, s.decay_rate)


def _piecewise(s: ScheduleConfig, lr: float, steps_per_epoch: int, epochs: int):
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [b * steps_per_epoch for b in s.boundaries], [lr * f for f in s.factors])


SCHEDULE_KEYS = ("warmup_epochs", "alpha", "decay_rate", "boundaries", "factors")
SCHEDULES: Registry[ScheduleSpec] = Registry("learning-rate schedule")
for _spec in [
    ScheduleSpec("cosine", "cosine decay from learning_rate to alpha x learning_rate at the "
                 "end of training, after warmup_epochs of linear warmup from 0", (),
                 ("warmup_epochs", "alpha"), _cosine),
    ScheduleSpec("exponential", "learning_rate x decay_rate ** epochs (continuous)",
                 ("decay_rate",), (), _exponential),
    ScheduleSpec("piecewise", "learning_rate x factors[i] between the boundaries (epochs)",
                 ("boundaries", "factors"), (), _piecewise),
]:
    SCHEDULES.register(_spec.name, _spec)


def check_schedule(s: ScheduleConfig) -> None:
    """The name is registered, and exactly its keys are set (their ranges are config's)."""
    key = "training.optimizer.schedule"
    spec = SCHEDULES.get(SCHEDULES.canonical(s.name, f"{key}.name"))
    for name in SCHEDULE_KEYS:
        value = getattr(s, name)
        if value is None and name in spec.required:
            raise UserError(f"{key}.{name} is required by schedule {spec.name}")
        if value is not None and name not in (*spec.required, *spec.optional):
            takes = ", ".join((*spec.required, *spec.optional)) or "nothing more"
            raise UserError(f"{key}.{name} does not apply to schedule {spec.name} (it takes "
                            f"{takes})")
    if spec.name == "piecewise" and len(s.factors) != len(s.boundaries) + 1:
        raise UserError(f"{key}.factors needs one more value than boundaries (one per span), "
                        f"got {len(s.factors)} for {len(s.boundaries)} boundaries")


def make_schedule(s: ScheduleConfig, learning_rate: float, steps_per_epoch: int, epochs: int
                  ) -> keras.optimizers.schedules.LearningRateSchedule:
    """Keras' schedule for the section, in optimizer steps (epochs x steps_per_epoch)."""
    return SCHEDULES.get(s.name).build(s, learning_rate, steps_per_epoch, epochs)


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
