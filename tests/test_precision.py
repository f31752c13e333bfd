"""Mixed precision computes the article's loss: the softmax output layer of every built-in
network runs in float32 under a mixed policy, so the clipped binary cross-entropy sees float32
probabilities (in bfloat16 every probability above 0.998 is 1.0); a user's network whose
output is not float32 is refused in one line."""

import keras
import numpy as np
import pytest
from conftest import tiny_config

from actsearch.activations import ActivationOptions
from actsearch.config import config_from_dict
from actsearch.data import load_dataset
from actsearch.errors import UserError
from actsearch.losses import binary_crossentropy_on_probabilities
from actsearch.models import build_model, softmax_output
from actsearch.training import set_precision


@pytest.fixture
def mixed(tmp_path):
    """The mixed policy actsearch sets for execution.mixed_precision (bfloat16 on a CPU)."""
    cfg = config_from_dict(tiny_config(tmp_path, execution={"mixed_precision": True}))
    set_precision(cfg)
    yield cfg
    keras.config.set_dtype_policy("float32")


def _loss(model, x, y) -> float:
    p = model(x, training=False)
    return float(keras.ops.mean(binary_crossentropy_on_probabilities(y, p)))


@pytest.mark.parametrize("architecture", ["article_cnn", "mlp", "vgg_small"])
def test_every_built_in_network_outputs_float32_under_mixed_precision(mixed, architecture):
    assert keras.config.dtype_policy().compute_dtype == "bfloat16"
    shape = (32, 32, 3) if architecture == "vgg_small" else (28, 28, 1)
    model = build_model(architecture, "relu", ActivationOptions(), shape, 10)
    hidden = [layer for layer in model.layers if layer.name.endswith("_act")]
    assert hidden and all(layer.compute_dtype == "bfloat16" for layer in hidden)
    assert model.get_layer("output").compute_dtype == "float32"
    assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"


def test_the_article_loss_under_mixed_precision_matches_float32(mixed):
    """A confident network on real digits (its output layer fitted by least squares to the
    labels, so most true-class probabilities are above 0.9999: bfloat16 has none between
    0.998 and 1): under mixed precision the loss
    is the float32 computation of the model's own float32 output layer on its bfloat16 hidden
    features, and near the float32 network's loss; a bfloat16 softmax, which rounds those
    probabilities to 1.0, would be far from both."""
    data = load_dataset(mixed.data)
    x, y = data.x_train[:96], data.y_train[:96]
    keras.utils.set_random_seed(0)
    half = build_model("mlp", "relu", ActivationOptions(), data.input_shape, 10, depth=2,
                       width=128)
    keras.config.set_dtype_policy("float32")
    full = build_model("mlp", "relu", ActivationOptions(), data.input_shape, 10, depth=2,
                       width=128)
    full.set_weights(half.get_weights())
    features = keras.Model(full.inputs, full.get_layer("dense2_act").output)
    h = np.c_[keras.ops.convert_to_numpy(features(x)), np.ones(len(x))].astype("float64")
    fitted = np.linalg.lstsq(h, 6.0 * (2 * y - 1), rcond=None)[0]
    for model in (half, full):
        model.get_layer("output").set_weights([fitted[:-1], fitted[-1]])
    p32 = keras.ops.convert_to_numpy(full(x, training=False))
    assert np.median(p32[y == 1]) > 0.9999  # bfloat16 rounds every one of these to 1.0
    reference = _loss(full, x, y)
    mixed_loss = _loss(half, x, y)
    # the same loss by hand in float64 from the mixed model's bfloat16 hidden features
    hidden = keras.Model(half.inputs, half.get_layer("dense2_act").output)(x)
    assert keras.backend.standardize_dtype(hidden.dtype) == "bfloat16"
    z = np.c_[keras.ops.convert_to_numpy(keras.ops.cast(hidden, "float32")),
              np.ones(len(x))].astype("float64") @ fitted
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p = np.clip(p / p.sum(axis=1, keepdims=True), 1e-7, 1 - 1e-7)
    by_hand = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    assert mixed_loss == pytest.approx(by_hand, rel=1e-3)
    assert mixed_loss == pytest.approx(reference, rel=0.1)
    rounded = keras.ops.cast(keras.ops.cast(p32, "bfloat16"), "float32")
    bf16_softmax = float(keras.ops.mean(binary_crossentropy_on_probabilities(y, rounded)))
    assert abs(bf16_softmax - reference) > 0.4 * reference  # what the float32 layer prevents


def _half_softmax_builder(act, input_shape, num_classes):
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(),
                             keras.layers.Dense(16, name="hidden"), act("hidden"),
                             keras.layers.Dense(num_classes, activation="softmax",
                                                name="out")])


def _float32_softmax_builder(act, input_shape, num_classes):
    return keras.Sequential([keras.Input(shape=input_shape), keras.layers.Flatten(),
                             keras.layers.Dense(16, name="hidden"), act("hidden"),
                             softmax_output(num_classes)])


def test_a_user_network_must_give_float32_under_mixed_precision(mixed):
    from actsearch.models import builder_scope

    with builder_scope(_half_softmax_builder) as name:
        with pytest.raises(UserError, match=r"outputs bfloat16 under execution.mixed_precision"
                                            r" \(bfloat16\): give its last layer dtype="):
            build_model(name, "relu", ActivationOptions(), (28, 28, 1), 10)
        keras.config.set_dtype_policy("float32")  # without mixed precision it is fine
        build_model(name, "relu", ActivationOptions(), (28, 28, 1), 10)
    set_precision(mixed)
    with builder_scope(_float32_softmax_builder) as name:
        model = build_model(name, "relu", ActivationOptions(), (28, 28, 1), 10)
        assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
