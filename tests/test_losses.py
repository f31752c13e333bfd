"""The article's loss: `binary_crossentropy` is computed on the softmax probabilities, as Keras 2
computed it, not on the cached logits Keras 3 substitutes; Keras 3's form is an explicit opt-in."""

import json

import keras
import numpy as np
import pytest
from conftest import tiny_config, write_config

from actsearch.checks import check
from actsearch.cli import main
from actsearch.config import config_from_dict
from actsearch.data import load_dataset
from actsearch.errors import UserError
from actsearch.training import build_compiled_model


def _bce_on_probabilities(y, p):
    p = np.clip(p.astype("float64"), 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def _sigmoid_ce_on_logits(y, z):
    z = z.astype("float64")
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def _first_step_loss(loss: str, tmp_path, **execution):
    """(the loss fit reports for its first step, the model's outputs and pre-softmax logits on
    that batch before the step); dropout off so the step sees the outputs predict() sees."""
    cfg = config_from_dict(tiny_config(tmp_path, training={"loss": loss}, execution=execution))
    data = load_dataset(cfg.data)
    x, y = data.x_train[:64], data.y_train[:64]
    keras.utils.set_random_seed(0)
    model = build_compiled_model(cfg, "relu")
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    top = keras.Model(model.inputs[0], model.get_layer("dense_act").output)
    output = model.get_layer("output")
    features = keras.ops.convert_to_numpy(top(x)).astype("float32")
    logits = features @ keras.ops.convert_to_numpy(output.kernel).astype("float32") \
        + keras.ops.convert_to_numpy(output.bias).astype("float32")
    probabilities = keras.ops.convert_to_numpy(model(x)).astype("float32")
    reported = model.train_on_batch(x, y, return_dict=True)["loss"]
    return float(reported), y, probabilities, logits


def test_fit_minimises_binary_crossentropy_on_the_softmax_probabilities(tmp_path):
    reported, y, p, z = _first_step_loss("binary_crossentropy", tmp_path)
    assert reported == pytest.approx(_bce_on_probabilities(y, p), rel=1e-4)
    # and not the logits form, which differs by far more than rounding
    assert abs(reported - _sigmoid_ce_on_logits(y, z)) > 0.1


def test_the_logits_form_is_keras_3s_sigmoid_cross_entropy_on_the_logits(tmp_path):
    reported, y, p, z = _first_step_loss("binary_crossentropy_on_logits", tmp_path)
    assert reported == pytest.approx(_sigmoid_ce_on_logits(y, z), rel=1e-4)
    assert abs(reported - _bce_on_probabilities(y, p)) > 0.1


def test_categorical_crossentropy_is_unchanged(tmp_path):
    reported, y, p, _ = _first_step_loss("categorical_crossentropy", tmp_path)
    expected = float(np.mean(-np.sum(y * np.log(np.clip(p, 1e-7, 1)), axis=-1)))
    assert reported == pytest.approx(expected, rel=1e-4)


@pytest.mark.slow
def test_the_article_loss_under_mixed_precision_is_still_on_the_probabilities(tmp_path):
    try:
        reported, y, p, z = _first_step_loss("binary_crossentropy", tmp_path,
                                             mixed_precision=True)
    finally:
        keras.config.set_dtype_policy("float32")
    assert reported == pytest.approx(_bce_on_probabilities(y, p), rel=2e-2)  # bfloat16
    assert abs(reported - _sigmoid_ce_on_logits(y, z)) > 0.1


def test_the_logits_form_with_mixed_precision_is_refused(tmp_path):
    with pytest.raises(UserError, match="cached logits"):
        check(config_from_dict(tiny_config(tmp_path,
                                           training={"loss": "binary_crossentropy_on_logits"},
                                           execution={"mixed_precision": True})))


@pytest.mark.slow
def test_a_folder_trained_with_the_swapped_loss_is_not_resumed(tmp_path, capsys):
    out = tmp_path / "out"
    cfg = tiny_config(out)
    write_config(tmp_path / "cfg.yaml", cfg)
    out.mkdir()
    config = config_from_dict(cfg)
    import yaml

    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict()))
    (out / "env.json").write_text(json.dumps({"keras": "3.15.1"}))  # no results_format: old
    assert main(["run", str(tmp_path / "cfg.yaml")]) == 2
    stderr = capsys.readouterr().err
    error = stderr.strip().splitlines()[-1]
    assert "binary_crossentropy_on_logits" in error and "Traceback" not in stderr
    assert not (out / "histories").exists()


def _mean_output_bias_after_training(loss: str, tmp_path) -> float:
    cfg = config_from_dict(tiny_config(tmp_path, data={"limit_train": 512},
                                       training={"loss": loss, "batch_size": 16}))
    data = load_dataset(cfg.data)
    keras.utils.set_random_seed(0)
    model = build_compiled_model(cfg, "relu")
    model.fit(data.x_train, data.y_train, batch_size=16, epochs=1, verbose=0)
    return float(np.mean(keras.ops.convert_to_numpy(model.get_layer("output").bias)))


@pytest.mark.slow
def test_the_two_forms_train_different_objectives_on_real_digits(tmp_path):
    """Not cosmetic: a function of the softmax probabilities cannot tell the logits apart
    from the logits plus a constant, so its gradient moves the ten output biases up and down
    around their mean; the logits form scores each logit as its own yes/no, where nine of ten
    answers are "no", and pushes every logit down together: after 32 real steps (Adam, lr
    0.001, at most about 0.001 per step) the mean bias has drifted down by more than a third
    of the most it could; with the article's loss it stays near where it started (0)."""
    article = _mean_output_bias_after_training("binary_crossentropy", tmp_path / "a")
    keras3 = _mean_output_bias_after_training("binary_crossentropy_on_logits", tmp_path / "b")
    assert keras3 < -0.011
    assert abs(article) < 0.3 * abs(keras3)
