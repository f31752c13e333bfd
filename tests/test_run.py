"""End to end: real tiny trainings through the CLI, and what a rerun does with the folder."""

import json

import pandas as pd
import pytest
from conftest import RECORDING_MLP, ROOT, kill_run_when, pausing_env, tiny_config, write_config

from actsearch.cli import main
from actsearch.expressions import canonical, parse

MLP = {"architecture": "mlp", "depth": 1, "width": 16}  # where any network would do
METRIC_COLUMNS = ["binary_accuracy", "categorical_accuracy", "loss", "val_binary_accuracy",
                  "val_categorical_accuracy", "val_loss"]


@pytest.mark.slow
def test_run_writes_every_output(tmp_path, capsys):
    out = tmp_path / "out"
    cfg = tiny_config(out, model={"activations": ["relu", "gelu"]},
                      training={"epochs": 2}, plots={"exclude": ["gelu"], "formats": ["svg"]})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg))]) == 0
    printed = capsys.readouterr().out
    assert "[1/2] relu seed 0" in printed and "[2/2] gelu seed 0" in printed
    for name in ["config.yaml", "env.json", "histories.csv", "summary.csv", "summary.md",
                 "statistics.csv", "histories/relu-seed0.csv", "histories/gelu-seed0.csv"]:
        assert (out / name).is_file(), name
    for stem in ["val_accuracy", "val_loss", "train_accuracy", "train_loss",
                 "val_accuracy_without_gelu", "val_loss_without_gelu"]:
        for ext in ("png", "svg"):
            assert (out / "plots" / f"{stem}.{ext}").stat().st_size > 1000, stem
    hist = pd.read_csv(out / "histories" / "relu-seed0.csv")
    assert list(hist["epoch"]) == [1, 2]
    assert set(METRIC_COLUMNS + ["seconds"]) <= set(hist.columns)
    assert hist["seconds"].gt(0).all()
    tidy = pd.read_csv(out / "histories.csv")
    assert len(tidy) == 4 and set(tidy["trial"]) == {"relu-seed0", "gelu-seed0"}
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["activation"]) == {"relu", "gelu"}
    assert summary["params"].eq(1_199_882).all()
    assert summary["test_categorical_accuracy"].between(0, 1).all()
    env = json.loads((out / "env.json").read_text())
    assert env["data"]["train"] == 256 and "tensorflow" in env
    md = (out / "summary.md").read_text()
    assert "| relu |" in md and "binary_accuracy" in md


@pytest.mark.slow
def test_same_seed_gives_the_same_history_epoch_for_epoch(tmp_path):
    histories = []
    for run in ("a", "b"):
        out = tmp_path / run
        cfg = tiny_config(out, training={"epochs": 2, "seeds": [3]})
        assert main(["run", str(write_config(tmp_path / f"{run}.yaml", cfg)), "--quiet"]) == 0
        histories.append(pd.read_csv(out / "histories" / "relu-seed3.csv")[METRIC_COLUMNS])
    pd.testing.assert_frame_equal(histories[0], histories[1], check_exact=True)


@pytest.mark.slow
def test_rerun_skips_finished_trials_and_refuses_another_config(tmp_path, capsys):
    out = tmp_path / "out"
    path = write_config(tmp_path / "c.yaml", tiny_config(out, model=MLP))
    assert main(["run", str(path)]) == 0
    record = out / "trials" / "relu-seed0.json"
    stamp = record.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["run", str(path)]) == 0
    assert "already finished, skipped" in capsys.readouterr().out
    assert record.stat().st_mtime_ns == stamp
    # a different experiment into the same folder is refused, and nothing is lost
    assert main(["run", str(path), "--set", "training.optimizer.learning_rate=0.01"]) == 2
    assert "holds results of a different config" in capsys.readouterr().err
    assert record.stat().st_mtime_ns == stamp
    # unless asked to overwrite
    assert main(["run", str(path), "--set", "training.optimizer.learning_rate=0.01",
                 "--overwrite", "--quiet"]) == 0
    assert record.stat().st_mtime_ns != stamp


@pytest.mark.slow
def test_diverging_trial_is_marked_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    out = tmp_path / "out"
    # an activation that overflows to inf by construction: a non-finite loss on any CPU
    blowup = "user_activations:blowup"
    cfg = tiny_config(out, model={**MLP, "activations": [blowup, "relu"]}, training={"epochs": 3})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0
    summary = pd.read_csv(out / "summary.csv").set_index("activation")
    assert summary.loc[blowup, "status"] == "diverged"
    assert summary.loc[blowup, "diverged_epoch"] == 1
    assert summary.loc[blowup, "epochs"] == 1  # stopped, not trained on for 3 epochs
    assert "user_activations-blowup-seed0 diverged at epoch 1" in (out / "summary.md").read_text()
    assert (out / "trials" / "relu-seed0.json").is_file()  # the next trial still ran
    assert summary.loc["relu", "status"] == "ok" and summary.loc["relu", "epochs"] == 3


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_resumes_with_every_epoch_once(tmp_path, capsys,
                                                                   monkeypatch):
    out = tmp_path / "out"
    epochs = 3
    cfg = tiny_config(out, model={"architecture": RECORDING_MLP, "activations": ["relu", "elu"]},
                      training={"epochs": epochs})
    path = write_config(tmp_path / "c.yaml", cfg)
    records = tmp_path / "records"
    # the second trial pauses at its 6th batch (of 4 per epoch): killed there, mid-epoch 2
    kill_run_when(path, (records / "elu.paused").is_file, env=pausing_env(records, "elu", 6))
    second = out / "histories" / "elu-seed0.csv"
    first_record = out / "trials" / "relu-seed0.json"
    stamp = first_record.stat().st_mtime_ns
    assert len(pd.read_csv(second)) == 1  # epoch 1 written, epoch 2 in progress
    assert not (out / "trials" / "elu-seed0.json").exists()

    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    monkeypatch.setenv("ACTSEARCH_RECORD_DIR", str(records))
    capsys.readouterr()
    assert main(["run", str(path)]) == 0  # the rerun: in this process
    rerun = capsys.readouterr().out
    assert "relu seed 0: already finished, skipped" in rerun
    assert first_record.stat().st_mtime_ns == stamp  # not retrained
    for trial in ("relu-seed0", "elu-seed0"):
        hist = pd.read_csv(out / "histories" / f"{trial}.csv")
        assert list(hist["epoch"]) == list(range(1, epochs + 1)), trial
    # the resumed fit ran only the remaining epochs
    assert "Epoch 2/3" in rerun and "Epoch 1/3" not in rerun


@pytest.mark.slow
def test_plot_command_redraws_from_disk(tmp_path):
    out = tmp_path / "out"
    cfg = tiny_config(out, model=MLP)
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0
    for png in (out / "plots").glob("*.png"):
        png.unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "plots" / "val_accuracy.png").is_file()
    assert main(["plot", str(tmp_path)]) == 2


@pytest.mark.parametrize("argv", [["list"]])
def test_list_names_every_activation(argv, capsys):
    assert main(argv) == 0
    listed = capsys.readouterr().out
    for name in ["sigmoid", "relu", "elu", "leaky-relu", "selu", "gelu", "gelu-tanh", "tanh",
                 "swish", "mish", "softplus", "linear"]:
        assert f"\n{name} " in "\n" + listed


@pytest.mark.slow
def test_an_expression_trains_like_any_activation_under_its_canonical_text(tmp_path, capsys):
    out = tmp_path / "out"
    cfg = tiny_config(out, model={**MLP, "activations": ["relu", "sigmoid(x)*x"]},
                      output={"save_models": True})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    swish = canonical(parse("x * sigmoid(x)"))  # one text for every spelling
    assert list(summary["activation"]) == ["relu", swish]
    expr_id = summary["trial"].iloc[1]
    assert expr_id.startswith("expr-") and (out / "models" / f"{expr_id}.keras").is_file()
    assert summary["test_categorical_accuracy"].between(0, 1).all()
    assert f"| {swish} |" in (out / "summary.md").read_text()
    # the same function spelled another way is one activation, refused as a duplicate
    cfg["model"]["activations"] = ["x*sigmoid(x)", "sigmoid(x) * x"]
    capsys.readouterr()
    assert main(["run", str(write_config(tmp_path / "d.yaml", cfg))]) == 2
    assert "twice" in capsys.readouterr().err.strip().splitlines()[-1]
