"""A user's own activations, imported by tests as `user_activations:squareplus`."""

import keras

NOT_CALLABLE = 3.0


def squareplus(x):
    """squareplus: (x + sqrt(x^2 + 4)) / 2, a smooth ReLU (So, 2021)."""
    return 0.5 * (x + keras.ops.sqrt(keras.ops.square(x) + 4.0))


def blowup(x):
    """x * 1e38 * 1e38: infinite for every input not exactly 0 (float32 tops out at 3.4e38),
    so the loss is not finite from the first batch on any CPU; the diverging branch of tests."""
    return x * 1e38 * 1e38
