"""actsearch feeds fit its own batches (actsearch.batches), without tf.data's autotuning (with
it, destroying each epoch's iterator stalled training: benchmarks/README.md, "The slow mode"):
training.shuffle: epoch trains exactly as fit on each epoch's permutation of the arrays would,
once as Keras 3's `fit(x, y)` does, and validation and test batches give the numbers of
Keras' own `evaluate(x, y)`. tests/test_batch_order.py watches the order from inside a
network."""

from __future__ import annotations

import keras
import numpy as np
from conftest import FIXTURE

from actsearch.batches import epoch_order, fit_batches, training_batches
from actsearch.config import SHUFFLE_MODES, DataConfig
from actsearch.data import load_dataset


def _model(data) -> keras.Model:
    """A small dropout CNN, seeded as a trial is."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(data.input_shape), keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(), keras.layers.Dropout(0.5),
        keras.layers.Dense(data.num_classes, activation="softmax")])
    model.compile(keras.optimizers.Adam(clipvalue=0.5), "binary_crossentropy")
    return model


def trained(feed: str, data) -> tuple[list[float], list[np.ndarray], float]:
    """Two epochs of the small CNN on real digits and the test loss as the trial's final
    evaluation computes it, fed as `feed` says."""
    model = _model(data)
    if feed == "arrays":  # Keras' own way, as the article's code on Keras 3
        history = model.fit(data.x_train, data.y_train, batch_size=50, epochs=2, verbose=0,
                            validation_data=(data.x_val, data.y_val))
        test = model.evaluate(data.x_test, data.y_test, batch_size=64, verbose=0)
    elif feed == "epoch arrays":  # fit on each epoch's permutation, one epoch at a time
        losses = []
        for epoch in range(2):
            order = epoch_order(7, epoch, len(data.x_train))
            history = model.fit(data.x_train[order], data.y_train[order], batch_size=50,
                                epochs=1, shuffle=False, verbose=0,
                                validation_data=(data.x_val, data.y_val))
            losses += history.history["val_loss"]
        test = model.evaluate(data.x_test, data.y_test, batch_size=64, verbose=0)
        return losses, model.get_weights(), test
    else:
        train, callbacks = training_batches(data.x_train, data.y_train, 50, feed, 7, 2)
        history = model.fit(train, epochs=2, shuffle=False, verbose=0, callbacks=callbacks,
                            validation_data=fit_batches(data.x_val, data.y_val, 50))
        test = model.evaluate(fit_batches(data.x_test, data.y_test, 64), verbose=0)
    return history.history["val_loss"], model.get_weights(), test


def _same_training(ours, theirs) -> None:
    # A different batch order or count changes the losses by ~1e-3; the same computation
    # differs by float round-off at most.
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    for a, b in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-6)
    assert theirs[0][0] != theirs[0][1]  # it trained


# 230 images: 4 full batches of 50 and a partial one of 30, as Keras cuts them
DATA = DataConfig(path=str(FIXTURE), limit_train=230, limit_test=100)


def test_shuffle_once_trains_as_keras_3_does_with_arrays():
    data = load_dataset(DATA)
    _same_training(trained("once", data), trained("arrays", data))


def test_shuffle_epoch_trains_on_each_epochs_permutation_in_batches_of_it():
    data = load_dataset(DATA)
    ours = trained("epoch", data)
    _same_training(ours, trained("epoch arrays", data))
    assert not np.allclose(ours[0], trained("once", data)[0])  # another order, other numbers


def test_batches_are_counted_partial_last_and_not_autotuned():
    x = np.arange(230, dtype="float32").reshape(230, 1, 1, 1)
    y = {"a": np.eye(2, dtype="float32")[np.arange(230) % 2]}  # a fused model's per-output y
    for mode in SHUFFLE_MODES:
        batches, _ = training_batches(x, y, 50, mode, 0, 3)
        assert int(batches.cardinality()) == 5, mode  # known, as Keras knows it for arrays
        assert [len(bx) for bx, _ in batches] == [50, 50, 50, 50, 30], mode
        assert batches.options().autotune.enabled is False, mode
    evaluation = fit_batches(x, y, 50)
    assert int(evaluation.cardinality()) == 5 and evaluation.options().autotune.enabled is False
    assert np.concatenate([bx for bx, _ in evaluation]).ravel().tolist() == list(range(230))
    unshuffled, _ = training_batches(x, y, 50, False, 0, 3)
    assert np.concatenate([bx for bx, _ in unshuffled]).ravel().tolist() == list(range(230))


def test_an_epochs_order_depends_on_the_seed_and_the_epoch_only():
    assert np.array_equal(epoch_order(3, 1, 1000), epoch_order(3, 1, 1000))
    assert sorted(epoch_order(3, 1, 1000)) == list(range(1000))
    assert not np.array_equal(epoch_order(3, 1, 1000), epoch_order(3, 2, 1000))
    assert not np.array_equal(epoch_order(3, 1, 1000), epoch_order(4, 1, 1000))
