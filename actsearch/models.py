"""Networks: a builder makes one for an activation, an input shape and a number of classes.

A builder is any function `build(act, input_shape, num_classes) -> keras.Model`. `act` is an
ActivationFactory: `act("dense")` is a fresh activation layer named `dense_act` (diagnostics
pair each kernel layer `X` with the layer named `X_act`), and it carries what the activation
needs around it: `act.kernel_initializer` and `act.dropout(rate, name=...)` (SELU: lecun_normal
and AlphaDropout). So a network built for relu and one built for selu differ only where the
activation says so. `model.architecture` names a registered builder (article_cnn, mlp,
vgg_small) or a user's own as `module:function`; the Python API also takes the function
itself (builder_scope). Builders that take `depth` or `width` get `model.depth`/`model.width`.

The softmax output layer is float32 (`dtype="float32"`, Keras' mixed-precision guidance):
under execution.mixed_precision the hidden layers compute in bfloat16/float16, but the
probabilities the loss sees are float32. In bfloat16 (8 bits of mantissa) every probability
above 0.998 is 1.0, so the article's clipped binary cross-entropy would see 1 - 1e-7 for a
confident correct class, and its loss and gradient would not be the article's. A user's
builder must do the same (end with `softmax_output(num_classes)`, or give its last layer
dtype="float32"); under a mixed policy a model whose output is not float32 is refused in one
line.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator

import keras

from actsearch.activations import (
    ActivationOptions,
    ActivationSpec,
    file_safe,
    get_spec,
)
from actsearch.errors import UserError
from actsearch.registry import Registry, import_function

MNIST_INPUT_SHAPE = (28, 28, 1)  # the article's data; builders get the shape of the data
MNIST_CLASSES = 10


class ActivationFactory:
    """One activation as a builder uses it: `act(layer)` -> a fresh layer named `<layer>_act`;
    `act.kernel_initializer`; `act.dropout(rate, name=...)`; `act.name`, file-safe, for naming
    the model."""

    def __init__(self, spec: ActivationSpec, options: ActivationOptions | None = None):
        self.spec = spec
        self.options = options or ActivationOptions()

    @classmethod
    def from_name(cls, activation: str, options: ActivationOptions | None = None
                  ) -> ActivationFactory:
        return cls(get_spec(activation), options)

    @property
    def name(self) -> str:
        return file_safe(self.spec.name)

    @property
    def kernel_initializer(self) -> str:
        return self.spec.kernel_initializer

    def __call__(self, layer: str) -> keras.layers.Layer:
        return self.spec.make_layer(self.options, f"{layer}_act")

    def dropout(self, rate: float, name: str | None = None) -> keras.layers.Layer:
        return self.spec.dropout(rate, name=name)


def softmax_output(num_classes: int, name: str = "output") -> keras.layers.Dense:
    """The last layer of every built-in network: Dense(softmax) computed in float32 under any
    dtype policy, so a mixed-precision network still gives the loss float32 probabilities.
    A user's builder can end with it too."""
    return keras.layers.Dense(num_classes, activation="softmax", name=name, dtype="float32")


Builder = Callable[..., keras.Model]  # (act, input_shape, num_classes[, depth, width]) -> model


def article_cnn(act: ActivationFactory, input_shape: tuple[int, ...],
                num_classes: int) -> keras.Model:
    """Conv(32) -> Conv(64) -> MaxPool -> Dropout(.25) -> Flatten -> Dense(128) -> Dropout(.5)
    -> Dense(softmax), the activation after both convolutions and the 128-unit layer; the
    article's parameter count (1,199,882 for MNIST)."""
    init = act.kernel_initializer
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, (3, 3), kernel_initializer=init, name="conv1"),
            act("conv1"),
            layers.Conv2D(64, (3, 3), kernel_initializer=init, name="conv2"),
            act("conv2"),
            layers.MaxPooling2D((2, 2), name="pool"),
            act.dropout(0.25, name="dropout1"),
            layers.Flatten(name="flatten"),
            layers.Dense(128, kernel_initializer=init, name="dense"),
            act("dense"),
            act.dropout(0.5, name="dropout2"),
            softmax_output(num_classes),
        ],
        name=f"article_cnn_{act.name}",
    )


def mlp(act: ActivationFactory, input_shape: tuple[int, ...], num_classes: int,
        depth: int = 3, width: int = 128) -> keras.Model:
    """Flatten -> [Dense(width) -> activation] x depth -> Dense(softmax). Layers `dense1`,
    `dense1_act`, ...: diagnostics show the gradient at every depth (vanishing with sigmoid)."""
    layers: list[keras.layers.Layer] = [keras.Input(shape=input_shape),
                                        keras.layers.Flatten(name="flatten")]
    for i in range(1, depth + 1):
        layers += [keras.layers.Dense(width, kernel_initializer=act.kernel_initializer,
                                      name=f"dense{i}"),
                   act(f"dense{i}")]
    layers.append(softmax_output(num_classes))
    return keras.Sequential(layers, name=f"mlp_{act.name}")


def vgg_small(act: ActivationFactory, input_shape: tuple[int, ...],
              num_classes: int) -> keras.Model:
    """A small VGG-style CNN for 32x32x3 images (CIFAR): two blocks of two 3x3 convolutions
    (32, then 64 channels, same padding) -> MaxPool -> Dropout(.25), then Flatten ->
    Dense(128) -> Dropout(.5) -> Dense(softmax). 591,274 parameters for CIFAR-10."""
    init = act.kernel_initializer
    layers: list[keras.layers.Layer] = [keras.Input(shape=input_shape)]
    for block, filters in ((1, 32), (2, 64)):
        for conv in (1, 2):
            name = f"conv{block}_{conv}"
            layers += [keras.layers.Conv2D(filters, (3, 3), padding="same",
                                           kernel_initializer=init, name=name),
                       act(name)]
        layers += [keras.layers.MaxPooling2D((2, 2), name=f"pool{block}"),
                   act.dropout(0.25, name=f"dropout{block}")]
    layers += [keras.layers.Flatten(name="flatten"),
               keras.layers.Dense(128, kernel_initializer=init, name="dense"),
               act("dense"),
               act.dropout(0.5, name="dropout3"),
               softmax_output(num_classes)]
    return keras.Sequential(layers, name=f"vgg_small_{act.name}")


ARCHITECTURES: Registry[Builder] = Registry("architecture", "or module:function for your own")
ARCHITECTURES.register("article_cnn", article_cnn)
ARCHITECTURES.register("mlp", mlp)
ARCHITECTURES.register("vgg_small", vgg_small)

_IN_SCOPE: dict[str, Builder] = {}  # functions handed to the Python API, by builder_name


def builder_name(build: Builder) -> str:
    """How a builder given as a function is named in the config: `module:qualname`."""
    return f"{build.__module__}:{build.__qualname__}"


@contextlib.contextmanager
def builder_scope(build: Builder) -> Iterator[str]:
    """While open, `builder_name(build)` names `build` (the API's `model=`), as Keras'
    custom_object_scope names custom objects; yields that name."""
    if not callable(build):
        raise UserError(f"model= must be a builder function, got {type(build).__name__}")
    name = builder_name(build)
    previous = _IN_SCOPE.get(name)
    _IN_SCOPE[name] = build
    try:
        yield name
    finally:
        if previous is None:
            _IN_SCOPE.pop(name, None)
        else:
            _IN_SCOPE[name] = previous


def import_builder(target: str) -> Builder:
    """`module:function` -> the function, or a one-line UserError naming model.architecture."""
    return import_function(target, "model.architecture")


def get_builder(architecture: str) -> Builder:
    """A function given to the API, a registered name, or `module:function`."""
    if architecture in _IN_SCOPE:
        return _IN_SCOPE[architecture]
    if ":" in architecture:
        return import_builder(architecture)
    return ARCHITECTURES.get(ARCHITECTURES.canonical(architecture, "model.architecture"))


def check_importable(architecture: str) -> None:
    """Refuse, in one line, a builder another process (a Ray worker) could not import."""
    if architecture in ARCHITECTURES:
        return
    module, _, attr = architecture.partition(":")
    if module == "__main__" or "<" in attr:
        raise UserError(f"model.architecture {architecture} is defined in __main__ or inside a "
                        f"function, so other processes cannot import it: put it in a module "
                        f"and name it module:function")
    imported = import_builder(architecture)
    given = _IN_SCOPE.get(architecture)
    if given is not None and imported is not given:
        raise UserError(f"model.architecture {architecture} imports as a different object than "
                        f"the function given; name the builder module:function")


def builder_settings(build: Builder, depth: int | None, width: int | None,
                     architecture: str) -> dict[str, int]:
    """The model.depth / model.width a builder takes as keywords; set for one that does not
    take them, a one-line error (a setting that would silently do nothing)."""
    accepted = inspect.signature(build).parameters
    settings = {}
    for key, value in (("depth", depth), ("width", width)):
        if value is None:
            continue
        if key not in accepted:
            raise UserError(f"model.{key} is set but model.architecture {architecture} does "
                            f"not take {key}")
        settings[key] = value
    return settings


def build_model(architecture: str, activation: str, options: ActivationOptions,
                input_shape: tuple[int, ...], num_classes: int, depth: int | None = None,
                width: int | None = None) -> keras.Model:
    """The architecture for one activation, built and checked against the data's shape."""
    build = get_builder(architecture)
    settings = builder_settings(build, depth, width, architecture)
    act = ActivationFactory.from_name(activation, options)
    model = build(act, tuple(input_shape), int(num_classes), **settings)
    return checked_model(model, architecture, tuple(input_shape), int(num_classes))


def build_article_cnn(activation: str, options: ActivationOptions | None = None,
                      input_shape: tuple[int, ...] = MNIST_INPUT_SHAPE,
                      num_classes: int = MNIST_CLASSES) -> keras.Model:
    """The article's network for one activation name (MNIST's shape unless given)."""
    return article_cnn(ActivationFactory.from_name(activation, options), input_shape,
                       num_classes)


def checked_model(model: object, architecture: str, input_shape: tuple[int, ...],
                  num_classes: int) -> keras.Model:
    """`model` built, if it takes one image batch of `input_shape` and gives one
    (batch, num_classes) output; else a one-line UserError."""
    where = f"model.architecture {architecture}"
    if not isinstance(model, keras.Model):
        raise UserError(f"{where} returned {type(model).__name__}, not a keras.Model")
    output = None
    if not model.built or not is_graph_model(model):  # built (and asked) by one blank image
        try:
            output = model(keras.ops.zeros((1, *input_shape)), training=False)
        except Exception as exc:  # noqa: BLE001 - the user's model: say why in one line
            raise UserError(f"{where} does not run on images of shape {input_shape}: "
                            f"{_first_line(exc)}") from None
    if is_graph_model(model):
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise UserError(f"{where} has {len(model.inputs)} inputs and {len(model.outputs)} "
                            f"outputs; actsearch feeds one image batch and expects one output")
        taken = tuple(model.inputs[0].shape[1:])
        if taken != input_shape:
            raise UserError(f"{where} takes inputs of shape {taken}, the data's images are "
                            f"{input_shape}")
        out_shape = tuple(model.outputs[0].shape[1:])
    elif not hasattr(output, "shape"):
        raise UserError(f"{where} gives {type(output).__name__}, not one output tensor")
    else:
        out_shape = tuple(output.shape[1:])
    if out_shape != (num_classes,):
        raise UserError(f"{where} outputs shape {out_shape}, the data has {num_classes} classes "
                        f"(want ({num_classes},), a softmax)")
    out_dtype = model.outputs[0].dtype if is_graph_model(model) else output.dtype
    compute = keras.config.dtype_policy().compute_dtype
    if compute != "float32" and keras.backend.standardize_dtype(out_dtype) != "float32":
        raise UserError(f"{where} outputs {keras.backend.standardize_dtype(out_dtype)} under "
                        f"execution.mixed_precision ({compute}): give its last layer "
                        f"dtype=\"float32\" so the loss sees float32 probabilities")
    return model


def is_graph_model(model: keras.Model) -> bool:
    """A functional or Sequential model: symbolic inputs and outputs, layers with outputs."""
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
