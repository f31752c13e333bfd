"""The one registry of losses: what each `training.loss` name computes, stated explicitly.

The article compiled its softmax network with `loss='binary_crossentropy'`. Keras 2.2, which
it ran on, computed that on the ten softmax *probabilities* (clipped to [1e-7, 1 - 1e-7]).
Keras 3 (and tf.keras 2.x) silently computes something else for the same string: softmax
caches its logits on the output tensor, and the TensorFlow backend's binary cross-entropy
swaps the probabilities for those logits (`_get_logits` in keras/src/backend/tensorflow/nn.py),
training ten independent sigmoid units on the pre-softmax logits. That changes the
experiment (the sigmoid network stays at chance), so here the name means what it says and
Keras 3's form is a separate, explicit opt-in.
"""

from __future__ import annotations

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


def get_loss(name: str) -> Callable:
    """The loss function for a `training.loss` name."""
    return LOSSES.get(name).fn
