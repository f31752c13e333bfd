"""The optimizer: Adam with clipping, updated by TensorFlow's fused kernel by default. It must
follow Adam's formula (a hand computation), agree with Keras 3's own Adam up to float
rounding, and leave saved models loadable by plain Keras."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import FIXTURE

from actsearch.activations import ActivationOptions
from actsearch.config import DataConfig, OptimizerConfig
from actsearch.data import load_dataset
from actsearch.models import build_model
from actsearch.optimizer import make_optimizer, use_fused_kernel

GRADIENTS = np.array([[0.9, -0.2, 0.001, -3.0], [0.3, 0.3, -0.7, 0.05],
                      [-0.1, 2.0, 0.4, 0.0]], dtype="float32")  # one row per step


def adam_by_hand(w, grads, lr=0.01, clip=0.5, b1=0.9, b2=0.999, eps=1e-7):
    """Adam as Keras documents it, in float64, with element-wise clipping first."""
    w, m, v = w.astype("float64"), np.zeros(w.shape), np.zeros(w.shape)
    for t, g in enumerate(grads, start=1):
        g = np.clip(g.astype("float64"), -clip, clip)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return w


def run_steps(optimizer, grads):
    w = keras.Variable(np.array([0.5, -0.5, 1.0, 2.0], dtype="float32"))
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [w])
    return np.asarray(w)


@pytest.mark.parametrize("fused", [True, False])
def test_each_update_is_adam_with_clipping(fused):
    cfg = OptimizerConfig(learning_rate=0.01, clipvalue=0.5, fused_kernel=fused)
    got = run_steps(make_optimizer(cfg), GRADIENTS)
    expected = adam_by_hand(np.array([0.5, -0.5, 1.0, 2.0]), GRADIENTS)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_fused_kernel_off_is_keras_own_adam_bit_for_bit():
    plain = run_steps(keras.optimizers.Adam(learning_rate=0.01, clipvalue=0.5), GRADIENTS)
    cfg = OptimizerConfig(learning_rate=0.01, clipvalue=0.5, fused_kernel=False)
    np.testing.assert_array_equal(run_steps(make_optimizer(cfg), GRADIENTS), plain)


@pytest.mark.slow
def test_a_model_trained_with_the_fused_kernel_saves_as_plain_keras_adam(tmp_path):
    data = load_dataset(DataConfig(path=str(FIXTURE), limit_train=128, limit_test=16))
    x, y = data.x_train, data.y_train
    models = []
    for fused in (True, False):
        keras.utils.set_random_seed(0)
        model = build_model("mlp", "relu", ActivationOptions(), (28, 28, 1), 10, depth=2,
                            width=32)
        model.compile(optimizer=make_optimizer(OptimizerConfig(fused_kernel=fused)),
                      loss="binary_crossentropy")
        model.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
        models.append(model)
    for a, b in zip(models[0].weights, models[1].weights, strict=True):  # two real steps
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    path = tmp_path / "relu.keras"
    models[0].save(path)
    code = ("import keras\n"  # no actsearch import: a plain Keras user
            f"m = keras.models.load_model({str(path)!r})\n"
            "print(type(m.optimizer).__name__, int(m.optimizer.iterations))\n")
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True)
    assert done.stdout.split() == ["Adam", "2"]


class SlotsElsewhereAdam(keras.optimizers.Adam):
    """Adam as a later Keras might keep it: its slots under other private names."""

    def build(self, var_list):
        super().build(var_list)
        self._slots = (self.__dict__.pop("_momentums"), self.__dict__.pop("_velocities"))


def test_without_adams_private_slots_the_update_stays_keras_own(capfd):
    assert use_fused_kernel(keras.optimizers.Adam())  # the Keras pinned in pyproject has them
    optimizer = SlotsElsewhereAdam()
    assert not use_fused_kernel(optimizer)
    assert "update_step" not in vars(optimizer)  # Keras' own method, not swapped
    notice = capfd.readouterr().err.strip().splitlines()
    assert notice == [f"actsearch: notice: Keras {keras.__version__}'s SlotsElsewhereAdam lacks "
                      f"_momentums, _velocities; training.optimizer.fused_kernel falls back to "
                      f"Keras' own Adam update"]
    assert not use_fused_kernel(SlotsElsewhereAdam())  # the notice once per process
    assert capfd.readouterr().err == ""
