"""actsearch feeds fit its own build of Keras' pipeline for arrays (actsearch.batches): the
same batches in the same order, so training and testing give the same numbers as
`fit(x, y)` and `evaluate(x, y)`, without tf.data's autotuning (with it, destroying each
epoch's iterator stalled training: benchmarks/README.md, "The slow mode")."""

from __future__ import annotations

import keras
import numpy as np
from conftest import FIXTURE

from actsearch.batches import fit_batches
from actsearch.config import DataConfig
from actsearch.data import load_dataset


def trained(feed: str, data) -> tuple[list[float], list[np.ndarray], float]:
    """Two epochs of a small dropout CNN on real digits, seeded as a trial is, and the test
    loss as the trial's final evaluation computes it."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(data.input_shape), keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(), keras.layers.Dropout(0.5),
        keras.layers.Dense(data.num_classes, activation="softmax")])
    model.compile(keras.optimizers.Adam(clipvalue=0.5), "binary_crossentropy")
    if feed == "arrays":  # Keras' own way, as the article and actsearch before
        history = model.fit(data.x_train, data.y_train, batch_size=50, epochs=2, verbose=0,
                            validation_data=(data.x_val, data.y_val))
        test = model.evaluate(data.x_test, data.y_test, batch_size=64, verbose=0)
    else:
        history = model.fit(fit_batches(data.x_train, data.y_train, 50, shuffle=True),
                            epochs=2, shuffle=False, verbose=0,
                            validation_data=fit_batches(data.x_val, data.y_val, 50, False))
        test = model.evaluate(fit_batches(data.x_test, data.y_test, 64, False), verbose=0)
    return history.history["val_loss"], model.get_weights(), test


def test_fit_batches_train_as_keras_does_with_arrays():
    # 230 images: 4 full batches of 50 and a partial one of 30, as Keras cuts them
    data = load_dataset(DataConfig(path=str(FIXTURE), limit_train=230, limit_test=100))
    keras_losses, keras_weights, keras_test = trained("arrays", data)
    our_losses, our_weights, our_test = trained("fit_batches", data)
    # A different batch order or count changes the losses by ~1e-3; the same computation
    # differs by float round-off at most.
    np.testing.assert_allclose(our_losses, keras_losses, rtol=1e-6)
    for ours, theirs in zip(our_weights, keras_weights, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(our_test, keras_test, rtol=1e-6)
    assert keras_losses[0] != keras_losses[1]  # it trained


def test_fit_batches_count_batches_and_do_not_autotune():
    x = np.zeros((230, 2, 2, 1), "float32")
    y = {"a": np.eye(2, dtype="float32")[np.arange(230) % 2]}  # a fused model's per-output y
    batches = fit_batches(x, y, 50, shuffle=True)
    assert int(batches.cardinality()) == 5  # known, as Keras knows it for arrays
    assert [len(bx) for bx, _ in batches] == [50, 50, 50, 50, 30]
    assert batches.options().autotune.enabled is False
