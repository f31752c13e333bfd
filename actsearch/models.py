"""Model factory: the article's CNN, built for one activation from the registry."""

from __future__ import annotations

import keras

from actsearch.activations import ActivationOptions, file_safe, get_spec
from actsearch.registry import Registry

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def build_article_cnn(
    activation: str,
    options: ActivationOptions | None = None,
    input_shape: tuple[int, ...] = INPUT_SHAPE,
    num_classes: int = NUM_CLASSES,
) -> keras.Model:
    """Conv(32) -> Conv(64) -> MaxPool -> Dropout(.25) -> Flatten -> Dense(128) -> Dropout(.5)
    -> Dense(softmax), the activation after both convolutions and the 128-unit layer.

    Each activation is its own layer (`conv1_act`, ...) so diagnostics can read the
    post-activation outputs; the parameter count is the article's (1,199,882 for MNIST).
    """
    spec = get_spec(activation)
    options = options or ActivationOptions()
    init = spec.kernel_initializer
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, (3, 3), kernel_initializer=init, name="conv1"),
            spec.make_layer(options, "conv1_act"),
            layers.Conv2D(64, (3, 3), kernel_initializer=init, name="conv2"),
            spec.make_layer(options, "conv2_act"),
            layers.MaxPooling2D((2, 2), name="pool"),
            spec.dropout(0.25, name="dropout1"),
            layers.Flatten(name="flatten"),
            layers.Dense(128, kernel_initializer=init, name="dense"),
            spec.make_layer(options, "dense_act"),
            spec.dropout(0.5, name="dropout2"),
            layers.Dense(num_classes, activation="softmax", name="output"),
        ],
        name=f"article_cnn_{file_safe(activation)}",
    )


ARCHITECTURES: Registry = Registry("architecture")
ARCHITECTURES.register("article_cnn", build_article_cnn)


def build_model(architecture: str, activation: str, options: ActivationOptions) -> keras.Model:
    return ARCHITECTURES.get(architecture)(activation, options)
