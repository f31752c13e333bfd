"""The cheaper diagnostics probe: which epochs `diagnostics.every` measures (also when
training stops early), the numbers reduced inside the compiled probe against NumPy on the
same tensors, and old results folders resuming across the new setting."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml
from conftest import FIXTURE, tiny_config

from actsearch.config import Config, DataConfig, DiagnosticsConfig, config_from_dict
from actsearch.data import load_dataset
from actsearch.diagnostics import (
    ClipRule,
    DiagnosticsWriter,
    Probe,
    describe_probe,
    measured_epoch,
    probe_indices,
)
from actsearch.errors import UserError
from actsearch.storage import RESULTS_FORMAT, ResultsDir
from actsearch.training import build_compiled_model, train_trial
from actsearch.trials import plan_trials

CLIP = 0.5


@pytest.fixture(scope="module")
def data():
    return load_dataset(DataConfig(path=str(FIXTURE), limit_train=192, limit_test=64))


def _mlp(data, seed: int = 0) -> keras.Model:
    """A small real network (two hidden ReLU layers) compiled as actsearch compiles it."""
    cfg = config_from_dict({"model": {"architecture": "mlp", "depth": 2, "width": 24}})
    keras.utils.set_random_seed(seed)
    return build_compiled_model(cfg, "relu", data.input_shape, data.num_classes)


class _StopAfter(keras.callbacks.Callback):
    """Stops training at the end of an epoch, as EarlyStopping or TerminateOnNaN would."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            self.model.stop_training = True


def _probed_epochs(data, tmp_path, every: int, epochs: int, stop_after: int | None = None):
    model = _mlp(data)
    idx = probe_indices(len(data.x_train), 64, 0)
    writer = DiagnosticsWriter(tmp_path / "d.csv", data.x_train[idx], data.y_train[idx],
                               keras.losses.binary_crossentropy, ClipRule(CLIP), 0.0, every)
    callbacks = [writer] + ([_StopAfter(stop_after)] if stop_after else [])
    model.fit(data.x_train, data.y_train, batch_size=96, epochs=epochs, verbose=0,
              callbacks=callbacks)
    assert writer.probe._measure.experimental_get_tracing_count() == 1  # once per trial
    diag = pd.read_csv(tmp_path / "d.csv")
    assert (diag.groupby("epoch").size() == 3).all()  # dense1, dense2, output each time
    return sorted(diag["epoch"].unique())


@pytest.mark.parametrize("every, epochs, expected", [
    (1, 4, [1, 2, 3, 4]),
    (5, 12, [1, 2, 3, 4, 5, 10, 12]),
    (3, 10, [1, 2, 3, 6, 9, 10]),
    (5, 1, [1]),
])
def test_measured_epochs_are_the_first_k_then_every_kth_and_the_last(every, epochs, expected):
    assert [e for e in range(1, epochs + 1) if measured_epoch(e, every, epochs)] == expected


def test_every_second_epoch_on_a_real_fit_keeps_before_training_and_the_last(data, tmp_path):
    assert _probed_epochs(data, tmp_path, every=2, epochs=5) == [0, 1, 2, 4, 5]


def test_training_stopped_early_still_gets_its_last_epoch_measured(data, tmp_path):
    assert _probed_epochs(data, tmp_path, every=2, epochs=8, stop_after=5) == [0, 1, 2, 4, 5]


def test_numbers_reduced_in_the_graph_match_numpy_on_the_same_tensors(data):
    model = _mlp(data, seed=1)
    model.fit(data.x_train, data.y_train, batch_size=64, epochs=1, verbose=0)
    x, y = data.x_train[:64], data.y_train[:64]
    rows = {r["layer"]: r for r in Probe(model, x, y, keras.losses.binary_crossentropy,
                                         ClipRule(clipvalue=1e-3)).measure(1)}
    kernels = [model.get_layer(name).kernel for name in ("dense1", "dense2", "output")]
    features = keras.Model(model.inputs, [model.get_layer("dense1_act").output,
                                          model.get_layer("dense2_act").output,
                                          model.outputs[0]])
    with tf.GradientTape() as tape:
        act1, act2, pred = features([x], training=False)
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, pred))
    grads = [g.numpy() for g in tape.gradient(loss, kernels)]
    for name, grad in zip(("dense1", "dense2", "output"), grads, strict=True):
        assert rows[name]["grad_norm"] == pytest.approx(np.linalg.norm(grad), rel=1e-5)
        assert rows[name]["clipped_fraction"] == pytest.approx(np.mean(np.abs(grad) > 1e-3),
                                                               abs=1e-6)
    assert 0 < rows["dense1"]["clipped_fraction"] < 1  # the clip bites on some entries only
    for name, act in (("dense1", act1.numpy()), ("dense2", act2.numpy())):
        assert rows[name]["act_mean"] == pytest.approx(act.mean(), rel=1e-5)
        assert rows[name]["act_std"] == pytest.approx(act.std(), rel=1e-4)
        dead = np.mean(np.abs(act).max(axis=0) <= 0.0)
        assert rows[name]["dead_fraction"] == pytest.approx(dead)
        assert rows[name]["inactive_fraction"] == pytest.approx(np.mean(act.max(axis=0) <= 0))
    assert "act_mean" not in rows["output"]


def test_every_is_in_the_config_with_a_default_and_checked():
    assert Config().diagnostics.every >= 1
    assert config_from_dict({"diagnostics": {"every": 2}}).diagnostics.every == 2
    with pytest.raises(UserError, match="diagnostics.every must be at least 1"):
        config_from_dict({"diagnostics": {"every": 0}})


def test_the_report_says_which_epochs_were_probed():
    assert describe_probe(DiagnosticsConfig(probe_size=512, every=1)) == (
        "The probe: 512 training images, before training and after every epoch.")
    assert "after each of the first 5 epochs, then every 5 epochs and after the last" in (
        describe_probe(DiagnosticsConfig(every=5)))


def test_a_folder_written_before_every_existed_resumes(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old = tiny_config(out, diagnostics={"enabled": True, "probe_size": 512, "probe_seed": 0,
                                        "dead_threshold": 0.0})  # no `every`: an older folder
    (out / "config.yaml").write_text(yaml.safe_dump(old))
    (out / "env.json").write_text(json.dumps({"results_format": RESULTS_FORMAT}))
    new = config_from_dict({**old, "diagnostics": {"enabled": True, "every": 3},  # resumed with
                            "training": {**old["training"], "shuffle": "once"}})  # its order
    ResultsDir(out).prepare(new, overwrite=False)  # not refused: the probe trains nothing
    assert yaml.safe_load((out / "config.yaml").read_text())["diagnostics"]["every"] == 3


@pytest.mark.parametrize("validation", ["test", "split"])
def test_the_recorded_test_metrics_are_the_final_weights_on_the_test_set(validation, tmp_path):
    cfg = config_from_dict(tiny_config(
        tmp_path / "out", data={"path": str(FIXTURE), "limit_train": 192, "limit_test": 64,
                                "validation": validation},
        model={"architecture": "mlp", "depth": 1, "width": 16}))
    data = load_dataset(cfg.data)
    results = ResultsDir(cfg.out_dir)
    results.prepare(cfg, overwrite=True)
    trial = plan_trials(cfg)[0]
    trained = keras.callbacks.Callback()  # holds the trained model after fit
    result = train_trial(trial, cfg, data, results, verbose=0, extra_callbacks=[trained])
    again = trained.model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    assert set(result.test) == set(again)
    for name, value in again.items():
        assert result.test[name] == pytest.approx(value, rel=1e-5, abs=1e-6)
