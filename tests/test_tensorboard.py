"""TensorBoard logs (`output.tensorboard`): Keras' epoch scalars and the trial's HParams per
trial, every epoch exactly once across a SIGKILL and a resume, removed by --overwrite."""

import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from conftest import RECORDING_MLP, ROOT, kill_run_when, pausing_env, tiny_config, write_config

from actsearch.checks import check
from actsearch.cli import main
from actsearch.config import config_from_dict
from actsearch.errors import UserError
from actsearch.storage import PER_TRIAL_DIRS
from actsearch.tensorboard_logs import require_tensorboard, trial_hparams


def scalar_steps(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} over every event file of one TensorBoard run folder."""
    found = defaultdict(list)
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    found[value.tag].append((event.step, float(tf.make_ndarray(value.tensor))))
    return dict(found)


def logged_epochs(run_dir: Path) -> int:
    """Epochs whose loss is on disk (0 while a file is half written)."""
    try:
        return len(scalar_steps(run_dir).get("epoch_loss", []))
    except tf.errors.DataLossError:
        return 0


def session_hparams(trial_dir: Path) -> list[tuple[str, dict]]:
    """[(trial id, {name: value})] of the HParams session summaries in a trial's folder."""
    from tensorboard.plugins.hparams import metadata

    sessions = []
    for path in trial_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    info = metadata.parse_session_start_info_plugin_data(
                        value.metadata.plugin_data.content)
                    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
                              for k, v in info.hparams.items()}
                    sessions.append((info.group_name, values))
    return sessions


@pytest.mark.slow
def test_every_epoch_is_logged_once_across_a_kill_and_resume(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorboard")
    out, epochs = tmp_path / "out", 4
    cfg = tiny_config(out, model={"architecture": RECORDING_MLP}, training={"epochs": epochs},
                      output={"tensorboard": True})
    path = write_config(tmp_path / "c.yaml", cfg)
    trial_dir = out / "tensorboard" / "relu-seed0"
    records = tmp_path / "records"  # paused at the 2nd batch of epoch 3 (4 batches an epoch)
    kill_run_when(path, (records / "relu.paused").is_file, env=pausing_env(records, "relu", 10))
    assert logged_epochs(trial_dir / "train") == 2
    history = out / "histories" / "relu-seed0.csv"
    killed_rows = len(pd.read_csv(history))
    assert killed_rows == 2
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    monkeypatch.setenv("ACTSEARCH_RECORD_DIR", str(records))
    capsys.readouterr()
    assert main(["run", str(path)]) == 0  # the rerun: in this process
    rerun = capsys.readouterr().out
    resumed_at = [int(k) for k in re.findall(rf"Epoch (\d+)/{epochs}", rerun)]
    assert resumed_at and min(resumed_at) > 1  # resumed, not started over

    hist = pd.read_csv(history)
    for run, prefix in (("train", ""), ("validation", "val_")):
        scalars = scalar_steps(trial_dir / run)
        for metric in ("loss", "categorical_accuracy", "binary_accuracy"):
            logged = scalars[f"epoch_{metric}"]
            assert [step for step, _ in logged] == list(range(epochs)), (run, metric)
            np.testing.assert_allclose([v for _, v in logged], hist[prefix + metric],
                                       rtol=1e-5)  # the same epochs as the history
    assert len({step for step, _ in scalar_steps(trial_dir / "validation")[
        "evaluation_loss_vs_iterations"]}) == epochs
    assert session_hparams(trial_dir) == [("relu-seed0", {
        "activation": "relu", "seed": 0.0, "loss": "binary_crossentropy", "optimizer": "adam",
        "learning_rate": pytest.approx(0.001), "epochs": float(epochs)})]

    # --overwrite with another config removes the TensorBoard logs with the other trial files
    assert main(["run", str(path), "--overwrite", "--set", "training.epochs=1",
                 "--set", "output.tensorboard=false", "--quiet"]) == 0
    assert not (out / "tensorboard").exists()
    assert "tensorboard" in PER_TRIAL_DIRS


def test_trial_hparams_name_what_differs_and_any_swept_value():
    cfg = config_from_dict({"training": {"epochs": 7, "optimizer": {"learning_rate": 0.01}}})
    assert trial_hparams(cfg, "gelu", 3, swept={"model.leaky_relu_slope": 0.1,
                                                "data.limit_train": None}) == {
        "activation": "gelu", "seed": 3, "loss": "binary_crossentropy", "optimizer": "adam",
        "learning_rate": 0.01,
        "epochs": 7, "model.leaky_relu_slope": 0.1, "data.limit_train": "None"}


def test_fused_executor_refuses_tensorboard_in_one_line():
    cfg = config_from_dict({"output": {"tensorboard": True},
                            "execution": {"executor": "fused"}})
    with pytest.raises(UserError, match="fused cannot be used with output.tensorboard"):
        check(cfg)


def test_without_the_tensorboard_package_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    require_tensorboard(config_from_dict({}))  # off: not needed
    with pytest.raises(UserError, match=r"pip install 'actsearch\[tensorboard\]'"):
        require_tensorboard(config_from_dict({"output": {"tensorboard": True}}))
