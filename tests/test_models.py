import math
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import tiny_config

import actsearch
from actsearch.activations import REGISTRY, ActivationOptions, get_spec
from actsearch.config import config_from_dict
from actsearch.data import load_dataset
from actsearch.errors import UserError
from actsearch.models import build_article_cnn

ARTICLE = ["sigmoid", "relu", "elu", "leaky-relu", "selu", "gelu-tanh"]
HIDDEN = ["conv1", "conv2", "dense"]


@pytest.mark.parametrize("name", ARTICLE)
def test_article_cnn_has_the_articles_parameter_count(name):
    assert build_article_cnn(name).count_params() == 1_199_882


@pytest.mark.parametrize("name", ARTICLE)
def test_activation_follows_every_hidden_layer(name):
    model = build_article_cnn(name)
    names = [layer.name for layer in model.layers]
    for hidden in HIDDEN:
        assert names[names.index(hidden) + 1] == f"{hidden}_act"
    assert model.get_layer("output").get_config()["activation"] == "softmax"


def test_selu_uses_lecun_normal_and_alpha_dropout():
    model = build_article_cnn("selu")
    for hidden in HIDDEN:
        init = model.get_layer(hidden).get_config()["kernel_initializer"]
        assert init["class_name"] == "LecunNormal"
    drops = [layer for layer in model.layers if "dropout" in layer.name]
    assert [type(d) for d in drops] == [keras.layers.AlphaDropout] * 2
    assert [d.rate for d in drops] == [0.25, 0.5]


@pytest.mark.parametrize("name", ["relu", "gelu", "leaky-relu", "sigmoid"])
def test_other_activations_use_keras_defaults(name):
    model = build_article_cnn(name)
    for hidden in HIDDEN:
        init = model.get_layer(hidden).get_config()["kernel_initializer"]
        assert init["class_name"] == "GlorotUniform"
    drops = [layer for layer in model.layers if "dropout" in layer.name]
    assert [type(d) for d in drops] == [keras.layers.Dropout] * 2


X = np.array([-3.0, -1.0, -0.2, 0.0, 0.5, 2.0], dtype="float32")


def apply(name, x=X, **options):
    layer = get_spec(name).make_layer(ActivationOptions(**options), "a")
    return keras.ops.convert_to_numpy(layer(x))


def test_gelu_is_erf_as_in_keras_and_gelu_tanh_is_the_articles_approximation():
    tanh_form = 0.5 * X * (1 + np.tanh(np.sqrt(2 / np.pi) * (X + 0.044715 * X**3)))
    erf_form = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in X])
    np.testing.assert_allclose(apply("gelu-tanh"), tanh_form, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(apply("gelu"), erf_form, rtol=1e-5, atol=1e-6)
    assert np.abs(apply("gelu-tanh") - apply("gelu")).max() > 1e-5  # really two functions


def test_leaky_relu_slope_is_the_articles_and_configurable():
    np.testing.assert_allclose(apply("leaky-relu"), np.where(X > 0, X, 0.2 * X), rtol=1e-6)
    np.testing.assert_allclose(apply("leaky-relu", leaky_relu_slope=0.05),
                               np.where(X > 0, X, 0.05 * X), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_activation_builds_and_runs(name):
    out = apply(name)
    assert out.shape == X.shape and np.all(np.isfinite(out))


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(UserError) as err:
        get_spec("rleu")
    message = str(err.value)
    assert "did you mean relu" in message
    assert all(name in message for name in REGISTRY)


@pytest.mark.slow
def test_saved_model_reloads_with_plain_load_model_in_a_fresh_process(tmp_path):
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype="float32")
    np.save(tmp_path / "x.npy", x)
    names = ["gelu-tanh", "leaky-relu", "selu"]
    expected = {}
    for name in names:
        model = build_article_cnn(name, ActivationOptions(leaky_relu_slope=0.1))
        model.save(tmp_path / f"{name}.keras")
        expected[name] = model.predict(x, verbose=0)
    # a user's own network with a search's find (a learnable beta, trained on real digits)
    # and a registered name, each put in by actsearch.activation_layer
    data = load_dataset(config_from_dict(tiny_config(tmp_path / "unused")).data)
    for name, activation in (("own-expression", "x * sigmoid(beta * x) + 0.5 * tanh(x)"),
                             ("own-gelu-tanh", "gelu-tanh")):
        layer = actsearch.activation_layer(activation)
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(32), layer,
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.Adam(0.05), "categorical_crossentropy")
        model.fit(data.x_train, data.y_train, epochs=1, batch_size=32, verbose=0)
        if layer.weights:
            assert float(layer.weights[0].numpy().ravel()[0]) != pytest.approx(1.0)  # trained
        model.save(tmp_path / f"{name}.keras")
        expected[name] = model.predict(x, verbose=0)
        names.append(name)
    code = (  # one fresh process reloads all three: it never saw the models built
        "import sys, pathlib, numpy as np, keras, actsearch\n"
        "folder = pathlib.Path(sys.argv[1])\n"
        "for name in sys.argv[2:]:\n"
        "    m = keras.models.load_model(folder / f'{name}.keras')\n"
        "    np.save(folder / f'{name}-y.npy', m.predict(np.load(folder / 'x.npy'), verbose=0))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), *names], check=True,
                   capture_output=True)
    for name in names:
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}-y.npy"), expected[name])
