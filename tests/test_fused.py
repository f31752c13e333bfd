"""The fused executor: one model with a branch per activation trains each branch exactly as
that activation would train alone, and leaves the usual per-trial files."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import RECORDING_MLP, ROOT, kill_run_when, pausing_env, tiny_config, write_config

from actsearch.checks import check
from actsearch.cli import main
from actsearch.config import config_from_dict
from actsearch.data import load_dataset
from actsearch.errors import UserError
from actsearch.executors.fused import build_fused_model
from actsearch.training import build_compiled_model
from actsearch.trials import plan_trials


def _no_dropout(model: keras.Model) -> None:
    """Dropout masks are per branch by design; equal weights need them off (rate 0 is read
    when the train step is traced, so setting it before the first fit switches them off)."""
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout | keras.layers.AlphaDropout):
            layer.rate = 0.0


@pytest.mark.slow
def test_fused_steps_give_each_branch_the_weights_of_separate_training(tmp_path):
    cfg = config_from_dict(tiny_config(  # the article's clipvalue; selu has AlphaDropout
        tmp_path / "out", model={"activations": ["relu", "selu"]},
        training={"batch_size": 32, "seeds": [4]}))
    data = load_dataset(cfg.data)
    x, y = data.x_train[:64], data.y_train[:64]  # two steps of 32
    trials = plan_trials(cfg)
    fused, branches = build_fused_model(cfg, trials)
    alone = {}
    for trial in trials:
        keras.utils.set_random_seed(trial.seed)
        alone[trial.id] = build_compiled_model(cfg, trial.activation)
        for a, b in zip(alone[trial.id].get_weights(), branches[trial.id].get_weights(),
                        strict=True):
            np.testing.assert_array_equal(a, b)  # the local executor's initial weights
    initial = {tid: branch.get_weights() for tid, branch in branches.items()}
    _no_dropout(fused)
    fused.fit(x, {tid: y for tid in branches}, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for tid, model in alone.items():
        _no_dropout(model)
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        for a, b, start in zip(model.get_weights(), branches[tid].get_weights(), initial[tid],
                               strict=True):
            assert not np.allclose(a, start, rtol=1e-4, atol=1e-6), "no training happened"
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=tid)


@pytest.mark.slow
def test_fused_run_writes_the_usual_per_trial_files_and_marks_only_the_diverged_branch(
        tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    out = tmp_path / "out"
    # one branch diverges by construction (its activation overflows to inf on any CPU), the
    # other must train on untouched; the diverged branch's non-finite diagnostics must not
    # break the report
    blowup = "user_activations:blowup"
    cfg = tiny_config(out, model={"architecture": "mlp", "depth": 1, "width": 16,
                                  "activations": [blowup, "relu"]}, training={"epochs": 2},
                      execution={"executor": "fused"}, diagnostics={"enabled": True})
    path = write_config(tmp_path / "c.yaml", cfg)
    assert main(["run", str(path), "--quiet"]) == 0
    summary = pd.read_csv(out / "summary.csv").set_index("activation")
    assert summary.loc[blowup, "status"] == "diverged"
    assert summary.loc[blowup, "diverged_epoch"] == 1
    assert summary.loc[blowup, "epochs"] == 1
    assert len(pd.read_csv(out / "histories" / "user_activations-blowup-seed0.csv")) == 1
    assert summary.loc["relu", "status"] == "ok"
    relu = pd.read_csv(out / "histories" / "relu-seed0.csv")
    assert list(relu["epoch"]) == [1, 2]
    assert np.isfinite(relu.drop(columns="epoch").to_numpy(dtype=float)).all()
    assert {"loss", "categorical_accuracy", "val_loss", "val_binary_accuracy",
            "seconds"} <= set(relu.columns)
    record = json.loads((out / "trials" / "relu-seed0.json").read_text())
    # the branch's own parameters (28*28*16 + 16, then 16*10 + 10), not the fused model's
    assert record["params"] == 12_730 and set(record["test"]) >= {"loss", "categorical_accuracy"}
    assert (out / "diagnostics" / "relu-seed0.csv").is_file()
    assert not (out / "state").exists() or not any((out / "state").iterdir())
    for name in ("histories.csv", "statistics.csv", "summary.md", "plots/val_loss.png"):
        assert (out / name).is_file(), name
    stamp = (out / "trials" / "relu-seed0.json").stat().st_mtime_ns
    assert main(["run", str(path), "--quiet"]) == 0  # a finished sweep is skipped
    assert (out / "trials" / "relu-seed0.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("override, message", [
    ({"training": {"optimizer": {"clipvalue": None, "global_clipnorm": 1.0}}},
     "fused cannot be used with training.optimizer.global_clipnorm"),
    ({"training": {"early_stopping_patience": 2}},
     "fused cannot be used with training.early_stopping_patience"),
    ({"execution": {"executor": "fused", "mixed_precision": True}},
     "fused cannot be used with execution.mixed_precision"),
    ({"execution": {"executor": "local", "steps_per_execution": 0}},
     "execution.steps_per_execution must be at least 1"),
])
def test_setups_that_couple_branches_are_refused(tmp_path, override, message):
    raw = tiny_config(tmp_path / "out", **{"execution": {"executor": "fused"}, **override})
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        check(config_from_dict(raw))


@pytest.mark.slow
def test_sigkilled_fused_group_resumes_from_its_backup_with_every_epoch_once(tmp_path, capsys,
                                                                            monkeypatch):
    out = tmp_path / "out"
    epochs = 3
    cfg = tiny_config(out, model={"architecture": RECORDING_MLP, "activations": ["relu", "elu"]},
                      training={"epochs": epochs}, execution={"executor": "fused"})
    path = write_config(tmp_path / "c.yaml", cfg)
    first = out / "histories" / "elu-seed0.csv"
    records = tmp_path / "records"  # the 6th batch (of 4 an epoch) pauses the group: epoch 2
    kill_run_when(path, (records / "relu.paused").is_file,
                  env=pausing_env(records, "relu", 6))
    assert not (out / "trials").exists() or not any((out / "trials").iterdir())
    killed_rows = len(pd.read_csv(first))
    assert killed_rows == 1

    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    monkeypatch.setenv("ACTSEARCH_RECORD_DIR", str(records))
    capsys.readouterr()
    assert main(["run", str(path)]) == 0  # the rerun: in this process
    rerun = capsys.readouterr().out
    assert f"Epoch {killed_rows + 1}/{epochs}" in rerun  # resumed, not restarted
    assert "Epoch 1/" not in rerun
    for trial in ("relu-seed0", "elu-seed0"):
        hist = pd.read_csv(out / "histories" / f"{trial}.csv")
        assert list(hist["epoch"]) == list(range(1, epochs + 1)), trial
        assert (out / "trials" / f"{trial}.json").is_file()
