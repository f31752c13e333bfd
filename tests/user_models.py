"""A user's own networks, imported by tests as `user_models:tiny_cnn` (builders take an
activation factory, the data's image shape and its number of classes), and broken ones."""

import keras


def tiny_cnn(act, input_shape, num_classes):
    """Conv(8) -> activation -> global average pool -> dropout -> softmax."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        keras.layers.Conv2D(8, (3, 3), kernel_initializer=act.kernel_initializer, name="conv"),
        act("conv"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        act.dropout(0.1, name="dropout"),
        keras.layers.Dense(num_classes, activation="softmax", name="output"),
    ], name=f"tiny_cnn_{act.name}")


def two_outputs(act, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    flat = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, [keras.layers.Dense(num_classes, activation="softmax")(flat),
                                keras.layers.Dense(num_classes, activation="softmax")(flat)])


def mnist_only(act, input_shape, num_classes):
    """Ignores the data's shape."""
    return tiny_cnn(act, (28, 28, 1), num_classes)


def ten_classes(act, input_shape, num_classes):
    """Ignores the data's classes."""
    return tiny_cnn(act, input_shape, 10)


def not_a_model(act, input_shape, num_classes):
    return "a model"


class Subclassed(keras.Model):
    def __init__(self, act, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten(name="flatten")
        self.hidden = keras.layers.Dense(16, name="hidden")
        self.hidden_act = act("hidden")
        self.out = keras.layers.Dense(num_classes, activation="softmax", name="output")

    def call(self, x):
        return self.out(self.hidden_act(self.hidden(self.flatten(x))))


def subclassed(act, input_shape, num_classes):
    return Subclassed(act, num_classes)
