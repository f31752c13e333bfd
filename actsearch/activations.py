"""The one registry of activations: name -> how to build it, its initializer and its dropout.

Keras' own strings are not used to look names up, because they would hide what the article
used: its GELU is the tanh approximation (`gelu-tanh` here; `gelu` is the exact erf form, as
in Keras, PyTorch and timm), and its LeakyReLU has slope 0.2 (Keras' default is 0.3).
Every activation is built as a layer so that models save to `.keras` and reload with
plain `keras.models.load_model` once `actsearch` is imported (the custom function is
registered with Keras' serialization registry on import). Besides registered names, an
activation may be `module:function` (a user's own function) or an expression of `x` in the
small language of actsearch/expressions.py (`x * sigmoid(1.5 * x)`).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import keras

from actsearch.expressions import ExpressionActivation, canonical, looks_like_expression, parse
from actsearch.registry import Registry, import_function


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


def _prelu(options: ActivationOptions, name: str) -> keras.layers.Layer:
    # One learned slope per channel, started at 0.25 as He et al. (2015); Keras' default
    # start of 0 would make it a plain ReLU at initialisation.
    conv = (name or "").startswith("conv")
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25),
                              shared_axes=[1, 2] if conv else None, name=name)


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
    ActivationSpec("gelu", "GELU, exact form x*Phi(x) with erf (as Keras, PyTorch and timm)",
                   _function(keras.activations.gelu)),
    ActivationSpec("gelu-tanh", "GELU, the tanh approximation the article used",
                   _function(gelu_tanh)),
    ActivationSpec("tanh", "hyperbolic tangent; zero-centred, saturates",
                   _function(keras.activations.tanh)),
    ActivationSpec("swish", "x*sigmoid(x), also called SiLU",
                   _function(keras.activations.silu)),
    ActivationSpec("mish", "x*tanh(softplus(x))",
                   _function(keras.activations.mish)),
    ActivationSpec("softplus", "log(1+e^x); a smooth ReLU",
                   _function(keras.activations.softplus)),
    ActivationSpec("prelu", "leaky ReLU whose negative slope is learned (per channel, from 0.25)",
                   _prelu),
    ActivationSpec("linear", "identity; the network collapses to a linear model (a baseline)",
                   _function(keras.activations.linear)),
]
REGISTRY: Registry[ActivationSpec] = Registry("activation", "or module:function for your own")
_ALIASES = {"gelu-tanh": ("gelu_tanh",), "gelu": ("gelu-exact",), "leaky-relu": ("leaky_relu",),
            "swish": ("silu",)}
for _spec in _SPECS:
    REGISTRY.register(_spec.name, _spec, aliases=_ALIASES.get(_spec.name, ()))


@keras.saving.register_keras_serializable(package="actsearch", name="ImportedActivation")
class ImportedActivation(keras.layers.Layer):
    """A user's `module:function` activation as a layer that saves its import path, so a
    `.keras` file reloads with plain `load_model` wherever actsearch and that module import."""

    def __init__(self, target: str, **kwargs):
        super().__init__(**kwargs)
        self.target = target
        self.fn = import_function(target)

    def call(self, inputs):
        return self.fn(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "target": self.target}


def _imported(target: str) -> ActivationSpec:
    fn = import_function(target)  # fail now, at config time, not when the model is built
    doc = (fn.__doc__ or "").strip().splitlines()
    return ActivationSpec(target, doc[0] if doc else f"user activation {target}",
                          lambda options, name: ImportedActivation(target, name=name))


def _expression(text: str) -> ActivationSpec:
    """An expression of x (`x * sigmoid(1.5 * x)`), named by its canonical text."""
    expression = canonical(parse(text))
    return ActivationSpec(expression, f"expression {expression}",
                          lambda options, name: ExpressionActivation(expression, name=name))


def is_expression(name: str) -> bool:
    return name not in REGISTRY and looks_like_expression(name)


def display_name(name: str) -> str:
    """How tables and plots name an activation: the registered name behind an alias, an
    expression's canonical text, a `module:function` as written (nothing is imported)."""
    if ":" in name:
        return name
    if is_expression(name):
        return canonical(parse(name))
    return REGISTRY.canonical(name)


def file_safe(name: str) -> str:
    """An activation name usable in file, trial and Keras layer names: `my.mod:fn` ->
    `my.mod-fn`; an expression -> `expr-<16 hex digits of its canonical text's hash>` (64
    bits: a collision among 10,000 expressions has a chance of about 3e-12; the search also
    checks)."""
    if ":" not in name and is_expression(name):
        digest = hashlib.sha1(canonical(parse(name)).encode()).hexdigest()[:16]
        return f"expr-{digest}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def check_activation_names(names: Iterable[str]) -> None:
    for name in names:
        get_spec(name)


def get_spec(name: str) -> ActivationSpec:
    """A registered name or alias, `module:function` for a user's own activation, or an
    expression of x."""
    if ":" in name:
        return _imported(name)
    if is_expression(name):
        return _expression(name)
    return REGISTRY.get(name)


def activation_layer(name: str, leaky_relu_slope: float = 0.2,
                     layer_name: str | None = None) -> keras.layers.Layer:
    """A new Keras layer for any registered activation (`"gelu-tanh"`), `module:function` or
    expression of x (`"x * sigmoid(1.5 * x)"`, e.g. a search's find), to put into your own
    model in one line. It saves with the model and reloads with `keras.models.load_model`
    after `import actsearch`. Only the function: selu's lecun_normal initialiser and
    AlphaDropout, which the article's network pairs with it, are the model's to choose."""
    spec = get_spec(name)
    return spec.make_layer(ActivationOptions(leaky_relu_slope=leaky_relu_slope), layer_name)
