"""A user's own activations, imported by tests as `user_activations:squareplus`."""

import keras

NOT_CALLABLE = 3.0


def squareplus(x):
    """squareplus: (x + sqrt(x^2 + 4)) / 2, a smooth ReLU (So, 2021)."""
    return 0.5 * (x + keras.ops.sqrt(keras.ops.square(x) + 4.0))
