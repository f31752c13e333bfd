"""The one registry of activations: name -> how to build it, its initializer and its dropout.

Keras' own strings are not used to look names up, because they disagree with the
article: Keras' 'gelu' is the exact erf form (the article used the tanh
approximation), and its LeakyReLU defaults to slope 0.3 (the article used 0.2).
Every activation is built as a layer so that models save to `.keras` and reload with
plain `keras.models.load_model` once `actsearch` is imported (the custom function is
registered with Keras' serialization registry on import).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import keras

from actsearch.errors import UserError


@keras.saving.register_keras_serializable(package="actsearch", name="gelu_tanh")
def gelu_tanh(x):
    """The article's GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * keras.ops.power(x, 3))
    return 0.5 * x * (1.0 + keras.ops.tanh(inner))


@dataclass(frozen=True)
class ActivationOptions:
    """Settings some activations take from the config (model.*)."""

    leaky_relu_slope: float = 0.2


LayerFactory = Callable[[ActivationOptions, str], keras.layers.Layer]


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    description: str
    make_layer: LayerFactory  # (options, layer name) -> a fresh activation layer
    kernel_initializer: str = "glorot_uniform"  # Keras' default
    dropout: type[keras.layers.Layer] = keras.layers.Dropout


def _function(fn: Callable) -> LayerFactory:
    return lambda options, name: keras.layers.Activation(fn, name=name)


def _leaky_relu(options: ActivationOptions, name: str) -> keras.layers.Layer:
    return keras.layers.LeakyReLU(negative_slope=options.leaky_relu_slope, name=name)


_SPECS = [
    ActivationSpec("sigmoid", "logistic 1/(1+e^-x); saturates, so gradients vanish",
                   _function(keras.activations.sigmoid)),
    ActivationSpec("relu", "max(0, x); cheap, sparse, units can die",
                   _function(keras.activations.relu)),
    ActivationSpec("elu", "x for x>0, e^x-1 below; smooth negative part",
                   _function(keras.activations.elu)),
    ActivationSpec("leaky-relu", "x for x>0, slope*x below (slope 0.2 as the article)",
                   _leaky_relu),
    ActivationSpec("selu", "scaled ELU; self-normalising with lecun_normal and AlphaDropout",
                   _function(keras.activations.selu), kernel_initializer="lecun_normal",
                   dropout=keras.layers.AlphaDropout),
    ActivationSpec("gelu", "GELU, the article's tanh approximation",
                   _function(gelu_tanh)),
    ActivationSpec("gelu-exact", "GELU, exact form x*Phi(x) with erf (Keras' 'gelu')",
                   _function(keras.activations.gelu)),
    ActivationSpec("tanh", "hyperbolic tangent; zero-centred, saturates",
                   _function(keras.activations.tanh)),
    ActivationSpec("swish", "x*sigmoid(x), also called SiLU",
                   _function(keras.activations.silu)),
    ActivationSpec("mish", "x*tanh(softplus(x))",
                   _function(keras.activations.mish)),
    ActivationSpec("softplus", "log(1+e^x); a smooth ReLU",
                   _function(keras.activations.softplus)),
    ActivationSpec("linear", "identity; the network collapses to a linear model (a baseline)",
                   _function(keras.activations.linear)),
]
REGISTRY: dict[str, ActivationSpec] = {spec.name: spec for spec in _SPECS}


def check_activation_names(names: Iterable[str]) -> None:
    for name in names:
        get_spec(name)


def get_spec(name: str) -> ActivationSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UserError(
            f"unknown activation {name!r}{hint}; valid: {', '.join(REGISTRY)}"
        ) from None
