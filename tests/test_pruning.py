"""Pruning: real tiny trainings on the MNIST fixture. The hopeless trials are `0 * x` and
`0 * x + 1`: every hidden unit outputs the same constant for every image, so the network
predicts one class for all of them and its validation accuracy cannot beat chance (the most
frequent class), whatever the float rounding; relu and elu learn far past it in one epoch."""

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config, write_config

from actsearch.cli import main
from actsearch.config import PruningConfig
from actsearch.pruning import chance_level, prune_verdict
from actsearch.reporting.plots import draw_curves, new_figure

CONSTANT, CONSTANT_ID = "0 * x", "expr-939a3c3a-seed0"  # every hidden unit outputs 0
ONES, ONES_ID = "0 * x + 1", "expr-5412c526-seed0"  # every hidden unit outputs 1


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """One real sweep (a small MLP on 1024 digits, validated on 256; 3 epochs) with
    `--set pruning.enabled=true`, rules median then chance, grace 2 epochs:
    - `0 * x` trains first, with no peers yet: the median rule cannot judge, chance prunes it;
    - relu and elu learn, and have fewer than 2 ok peers: only the chance rule applies;
    - `0 * x + 1` comes last, with relu and elu finished: the median rule prunes it.
    Returns (results folder, config path, printed output)."""
    tmp = tmp_path_factory.mktemp("pruning")
    out = tmp / "out"
    cfg = tiny_config(out, data={"limit_train": 1024, "limit_test": 256},
                      model={"architecture": "mlp", "depth": 1, "width": 32,
                             "activations": [CONSTANT, "relu", "elu", ONES]},
                      training={"epochs": 3, "batch_size": 128,
                                "optimizer": {"learning_rate": 0.01}},
                      pruning={"rules": ["median", "chance"], "grace_epochs": 2,
                               "min_peers": 2})
    path = write_config(tmp / "c.yaml", cfg)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", str(path), "--set", "pruning.enabled=true"]) == 0
    return out, path, printed.getvalue()


def record(out, trial_id):
    return json.loads((out / "trials" / f"{trial_id}.json").read_text())


def objective(out, trial_id):
    return pd.read_csv(out / "histories" / f"{trial_id}.csv")["val_categorical_accuracy"]


def test_chance_rule_prunes_a_network_that_cannot_learn_and_keeps_the_ones_that_do(sweep):
    out, _, printed = sweep
    assert "[1/4] 0 * x seed 0: PRUNED at epoch 2 (chance rule: best " in printed
    pruned = record(out, CONSTANT_ID)
    assert pruned["status"] == "pruned" and pruned["pruned_epoch"] == 2
    assert pruned["epochs_run"] == 2 and pruned["pruned_reason"].startswith("chance rule")
    assert list(objective(out, CONSTANT_ID).index) == [0, 1]  # the epochs it trained, kept
    assert not (out / "state" / CONSTANT_ID).exists()  # finished: no resume state left
    for trial_id in ("relu-seed0", "elu-seed0"):
        kept = record(out, trial_id)
        assert kept["status"] == "ok" and kept["epochs_run"] == 3
        assert kept["pruned_epoch"] is None


def test_median_rule_prunes_a_trial_behind_its_finished_peers(sweep):
    out, _, printed = sweep
    line = next(x for x in printed.splitlines() if x.startswith("[4/4] 0 * x + 1 seed 0:"))
    assert "PRUNED at epoch 2 (median rule: " in line and "of 2 peers)" in line
    assert record(out, ONES_ID)["status"] == "pruned"
    running = [objective(out, t)[:2].mean() for t in ("relu-seed0", "elu-seed0")]
    assert objective(out, ONES_ID).max() < np.median(running)
    assert f"median {np.median(running):.4g}" in line


def test_pruned_trials_count_as_worst_outside_the_means_and_the_summary_says_why(sweep):
    out, _, _ = sweep
    stats = pd.read_csv(out / "statistics.csv").set_index("activation")
    for name in (CONSTANT, ONES):
        assert stats.loc[name, "seeds"] == 0 and stats.loc[name, "pruned"] == 1
        assert np.isnan(stats.loc[name, "test_categorical_accuracy_mean"])
    assert set(stats.index[stats["rank"] <= 2]) == {"relu", "elu"}
    summary = pd.read_csv(out / "summary.csv").set_index("activation")
    assert list(summary.loc[[CONSTANT, ONES], "pruned_epoch"]) == [2, 2]
    md = (out / "summary.md").read_text()
    assert f"{CONSTANT_ID} was pruned at epoch 2 (chance rule: " in md
    assert f"{ONES_ID} was pruned at epoch 2 (median rule: " in md
    assert md.count("it counts as the worst outcome in the ranking and the tests, and is "
                    "left out of the means") == 2
    assert f"| {CONSTANT} | 0 | - | 1 pruned of 1 |" in md  # beside the (empty) mean
    assert "| 0 * x | 0 | pruned | 2 |" in md  # the trials table: seed, status, epochs


def test_plots_end_a_pruned_curve_with_an_x(sweep):
    out, _, _ = sweep
    histories = pd.read_csv(out / "histories.csv")
    ax = new_figure((4, 3)).subplots()
    draw_curves(ax, histories, "val_loss", [CONSTANT, "relu"], pruned=[CONSTANT_ID])
    marks = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [2]
    last = histories[(histories["trial"] == CONSTANT_ID) & (histories["epoch"] == 2)]
    assert list(marks[0].get_ydata()) == list(last["val_loss"])
    assert (out / "plots" / "val_accuracy.png").is_file()


def test_a_rerun_does_not_train_a_pruned_trial_again(sweep, capsys):
    out, path, _ = sweep
    before = {t: (out / "histories" / f"{t}.csv").read_text() for t in (CONSTANT_ID, ONES_ID)}
    assert main(["run", str(path), "--set", "pruning.enabled=true"]) == 0
    printed = capsys.readouterr().out
    assert "[1/4] 0 * x seed 0: already finished, skipped" in printed
    assert "[4/4] 0 * x + 1 seed 0: already finished, skipped" in printed
    for trial_id, text in before.items():
        assert (out / "histories" / f"{trial_id}.csv").read_text() == text
        assert record(out, trial_id)["status"] == "pruned"


def rule(**kwargs) -> PruningConfig:
    return PruningConfig(enabled=True, **{"grace_epochs": 2, "min_peers": 2, **kwargs})


def test_median_rule_waits_for_grace_peers_and_never_prunes_the_last_epoch():
    peers = [[0.5, 0.7, 0.8, 0.9], [0.6, 0.8, 0.9, 0.9]]  # running means at 2: 0.6 and 0.7
    behind = [0.2, 0.6]
    verdict = prune_verdict(rule(), behind, "max", 4, None, peers)
    assert verdict is not None and verdict.epoch == 2
    assert verdict.reason == "median rule: 0.6 < median 0.65 of 2 peers"
    assert prune_verdict(rule(), behind[:1], "max", 4, None, peers) is None  # grace
    assert prune_verdict(rule(), behind, "max", 2, None, peers) is None  # last epoch
    assert prune_verdict(rule(min_peers=3), behind, "max", 4, None, peers) is None
    assert prune_verdict(rule(), behind, "max", 4, None, [p[:1] for p in peers]) is None
    assert prune_verdict(rule(), [0.2, 0.66], "max", 4, None, peers) is None  # above median
    losses = [[1.0, 0.5, 0.4], [0.8, 0.3, 0.2]]  # min mode: running means 0.75 and 0.55
    assert prune_verdict(rule(), [0.9, 0.7], "min", 3, None, losses).reason.startswith(
        "median rule: 0.7 > median 0.65")
    assert prune_verdict(rule(), [0.9, 0.6], "min", 3, None, losses) is None


def test_chance_level_is_what_a_constant_prediction_scores():
    balanced = np.eye(10)[np.arange(100) % 10]
    assert chance_level("categorical_accuracy", balanced) == pytest.approx(0.1)
    assert chance_level("binary_accuracy", balanced) == pytest.approx(0.9)
    skewed = np.eye(4)[[0, 0, 0, 1, 2, 3, 0, 0]]
    assert chance_level("categorical_accuracy", skewed) == pytest.approx(5 / 8)
    chance = rule(rules=["chance"], chance_margin=0.1)  # bar: 0.1 + 0.1 * 0.9 = 0.19
    assert prune_verdict(chance, [0.11, 0.18], "max", 5, 0.1, []).reason.startswith(
        "chance rule: best 0.18 <= 0.19")
    assert prune_verdict(chance, [0.11, 0.2], "max", 5, 0.1, []) is None


@pytest.mark.parametrize("overrides, message", [
    (["pruning.rules=[chance]", "objective.metric=loss"],
     "pruning.rules chance needs an accuracy objective"),
    (["pruning.rules=[median, sometimes]"], "pruning.rules: unknown value 'sometimes'"),
    (["pruning.grace_epochs=0"], "pruning.grace_epochs must be at least 1"),
    (["pruning.enabled=true", "execution.executor=fused"],
     "execution.executor fused cannot be used with pruning.enabled"),
])
def test_bad_pruning_config_is_refused_in_one_line(tmp_path, capsys, overrides, message):
    path = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "out"))
    sets = [arg for item in overrides for arg in ("--set", item)]
    assert main(["run", str(path), *sets]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "trials").exists()
