"""The batch order, watched from inside the network (tests/recording_builder.py records every
training batch it is fed), not read from actsearch's code: with training.shuffle: epoch each
epoch sees a new order of the same images, drawn from (seed, epoch) alone, so every activation
of a seed and every executor sees the same batches, and a run killed mid-epoch resumes on
exactly the batches an uninterrupted run trains on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import RECORDING_MLP, ROOT, kill_run_when, pausing_env, tiny_config, write_config
from recording_builder import image_keys

from actsearch.cli import main
from actsearch.config import DataConfig
from actsearch.data import load_dataset

STEPS = 4  # 256 training images in batches of 64
EPOCHS = 3


def record_config(out, **training) -> dict:
    return tiny_config(out, model={"architecture": RECORDING_MLP,
                                   "activations": ["relu", "elu"]},
                       training={"epochs": EPOCHS, **training})


def recorded(folder, activation: str) -> list[list[list[float]]]:
    """The training batches one activation was fed, as image keys, grouped by epoch."""
    lines = (folder / f"{activation}.txt").read_text().splitlines()
    batches = [[float(k) for k in line.split()] for line in lines]
    return [batches[i:i + STEPS] for i in range(0, len(batches), STEPS)]


@pytest.fixture
def record(tmp_path, monkeypatch):
    """run(name, **training) -> the folder its recordings went to."""
    monkeypatch.syspath_prepend(str(ROOT / "tests"))

    def run(name: str, executor: str = "local", **training):
        folder = tmp_path / f"{name}-records"
        folder.mkdir()
        monkeypatch.setenv("ACTSEARCH_RECORD_DIR", str(folder))
        cfg = record_config(tmp_path / name, **training)
        cfg["execution"] = {"executor": executor}
        assert main(["run", str(write_config(tmp_path / f"{name}.yaml", cfg)), "--quiet"]) == 0
        return folder

    return run


@pytest.mark.slow
def test_each_epoch_a_new_order_of_the_same_images_the_same_for_every_activation(record):
    images = sorted(image_keys(load_dataset(
        DataConfig(path=str(ROOT / "actsearch/sample_data/mnist-mini"), limit_train=256)
    ).x_train))
    epoch = record("epoch")
    relu = recorded(epoch, "relu")
    assert len(relu) == EPOCHS and all(len(e) == STEPS for e in relu)
    orders = [sum(e, []) for e in relu]
    for order in orders:
        assert sorted(order) == images  # every image once per epoch
    assert orders[0] != orders[1] and orders[1] != orders[2] and orders[0] != orders[2]
    assert recorded(epoch, "elu") == relu  # the paired test's premise: same seed, same batches
    # another run and executor, the same seed: the same orders (one model, one
    # order for its branches; test_batches checks that the order is the seed's and epoch's)
    fused = record("fused", executor="fused")
    assert recorded(fused, "relu") == relu and recorded(fused, "elu") == relu


@pytest.mark.slow
def test_once_keeps_one_order_and_false_the_datas(record):
    once = [sum(e, []) for e in recorded(record("once", shuffle="once"), "relu")]
    assert once[0] == once[1] == once[2]
    unshuffled = [sum(e, []) for e in recorded(record("false", shuffle=False), "relu")]
    data = load_dataset(DataConfig(path=str(ROOT / "actsearch/sample_data/mnist-mini"),
                                   limit_train=256))
    assert unshuffled == [list(image_keys(data.x_train))] * EPOCHS


@pytest.mark.slow
def test_sigkill_mid_epoch_2_then_rerun_trains_the_uninterrupted_batches(
        tmp_path, record, monkeypatch, capsys):
    whole = recorded(record("whole"), "relu")  # uninterrupted, for comparison
    out = tmp_path / "killed"
    cfg = record_config(out)
    cfg["model"]["activations"] = ["relu"]
    path = write_config(tmp_path / "killed.yaml", cfg)
    before = tmp_path / "before-kill"
    # the 2nd batch of epoch 2 pauses the run; it is killed there, mid-epoch
    kill_run_when(path, (before / "relu.paused").is_file,
                  env=pausing_env(before, "relu", STEPS + 2))
    assert len(pd.read_csv(out / "histories" / "relu-seed0.csv")) == 1  # epoch 1 was done
    assert sum(recorded(before, "relu"), []) == sum(whole, [])[:STEPS + 2]

    after = tmp_path / "after-kill"
    after.mkdir()
    monkeypatch.setenv("ACTSEARCH_RECORD_DIR", str(after))
    assert main(["run", str(path)]) == 0
    assert "Epoch 2/3" in capsys.readouterr().out
    assert recorded(after, "relu") == whole[1:]  # epochs 2 and 3, batch for batch
    history = pd.read_csv(out / "histories" / "relu-seed0.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    np.testing.assert_allclose(history["loss"].iloc[0],
                               pd.read_csv(tmp_path / "whole" / "histories" /
                                           "relu-seed0.csv")["loss"].iloc[0], rtol=1e-6)


@pytest.mark.slow
def test_a_folder_from_before_training_shuffle_resumes_only_with_once(tmp_path, capsys):
    out = tmp_path / "out"
    path = write_config(tmp_path / "c.yaml", tiny_config(out, model={
        "architecture": "mlp", "depth": 1, "width": 8}))
    assert main(["run", str(path), "--quiet"]) == 0
    config = yaml.safe_load((out / "config.yaml").read_text())
    del config["training"]["shuffle"]  # as every folder made before the key existed
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    capsys.readouterr()
    assert main(["run", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "trained with training.shuffle once, this config has epoch" in line
    assert "--set training.shuffle=once" in line
    assert main(["run", str(path), "--set", "training.shuffle=once"]) == 0
    assert "already finished, skipped" in capsys.readouterr().out
