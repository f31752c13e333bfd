"""The one registry of losses: what each `training.loss` name computes, stated explicitly.

The article compiled its softmax network with `loss='binary_crossentropy'`. Keras 2.2, which
it ran on, computed that on the ten softmax *probabilities* (clipped to [1e-7, 1 - 1e-7]).
Keras 3 (and tf.keras 2.x) silently computes something else for the same string: softmax
caches its logits on the output tensor, and the TensorFlow backend's binary cross-entropy
swaps the probabilities for those logits (`_get_logits` in keras/src/backend/tensorflow/nn.py),
training ten independent sigmoid units on the pre-softmax logits. That changes the
experiment (the sigmoid network stays at chance), so here the name means what it says and
Keras 3's form is a separate, explicit opt-in.

Every other loss Keras has by name (kl_divergence, squared_hinge, categorical_focal_crossentropy,
...) is registered too, described by its own docstring; the labels are one-hot, so the ones that
take other labels (sparse, CTC, circle) or need an argument are left out.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import ops

from actsearch.registry import Registry

EPSILON = 1e-7  # Keras 2's K.epsilon(), the clip the article's loss used


@keras.saving.register_keras_serializable(package="actsearch",
                                          name="binary_crossentropy_on_probabilities")
def binary_crossentropy_on_probabilities(y_true, y_pred):
    """Keras 2's binary_crossentropy: on the model's outputs as they are (a new tensor from
    the clip, so no cached logits can be substituted), mean over the last axis."""
    y_pred = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    y_true = ops.cast(y_true, y_pred.dtype)
    log_likelihood = y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred)
    return -ops.mean(log_likelihood, axis=-1)


@dataclass(frozen=True)
class LossSpec:
    name: str
    description: str
    fn: Callable
    from_cached_logits: bool = False  # needs the softmax output's cached logits


_SPECS = [
    LossSpec("binary_crossentropy",
             "binary cross-entropy on the softmax probabilities, as Keras 2 and the article "
             "computed it", binary_crossentropy_on_probabilities),
    LossSpec("binary_crossentropy_on_logits",
             "what Keras 3 computes for 'binary_crossentropy' on a softmax output: sigmoid "
             "cross-entropy on the pre-softmax logits (opt-in, to see the difference)",
             keras.losses.binary_crossentropy, from_cached_logits=True),
    LossSpec("categorical_crossentropy",
             "categorical cross-entropy (Keras computes it from the logits: the same "
             "mathematics as on the probabilities, only more stable)",
             keras.losses.categorical_crossentropy),
]
LOSSES: Registry[LossSpec] = Registry("loss")
for _spec in _SPECS:
    LOSSES.register(_spec.name, _spec)

NOT_ONE_HOT = ("sparse_categorical_crossentropy", "ctc", "circle")  # other label formats
ON_CACHED_LOGITS = ("binary_focal_crossentropy",)  # through the TF backend's binary CE
KERAS_ALIASES = {"mean_squared_error": ("mse",), "mean_absolute_error": ("mae",),
                 "mean_absolute_percentage_error": ("mape",),
                 "mean_squared_logarithmic_error": ("msle",), "kl_divergence": ("kld",)}


def _takes_only_labels_and_predictions(fn: Callable) -> bool:
    params = list(inspect.signature(fn).parameters.values())[2:]
    return all(p.default is not p.empty or p.kind == p.VAR_KEYWORD for p in params)


def _keras_loss_spec(name: str, fn: Callable) -> LossSpec:
    doc = (inspect.getdoc(fn) or name).strip().splitlines()[0].rstrip(".").replace("`", "")
    description = f"Keras' {name}: {doc[0].lower()}{doc[1:]}"
    if name in ON_CACHED_LOGITS:
        description += (" (on a softmax output, Keras 3 computes it from the pre-softmax "
                        "logits)")
    return LossSpec(name, description, fn, from_cached_logits=name in ON_CACHED_LOGITS)


for _name in sorted(dir(keras.losses)):
    _fn = getattr(keras.losses, _name)
    if (_name.startswith("_") or not _name.islower() or not inspect.isfunction(_fn)
            or _name in LOSSES or _name in NOT_ONE_HOT or _name in ("get", "serialize",
                                                                     "deserialize")
            or not _takes_only_labels_and_predictions(_fn)):
        continue
    LOSSES.register(_name, _keras_loss_spec(_name, _fn), KERAS_ALIASES.get(_name, ()))


def get_loss(name: str) -> Callable:
    """The loss function for a `training.loss` name."""
    return LOSSES.get(name).fn
