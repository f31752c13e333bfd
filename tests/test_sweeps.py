"""Sweeps (issue 14): every (activation, sweep point, seed) trains with its own config, and the
summary, statistics, plots and report compare activations within each point; a finished study
grows by seeds and sweep values, training only the new trials. Real tiny MLPs on the shipped
MNIST images."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import tiny_config, write_config

from actsearch.cli import main
from actsearch.config import config_from_dict
from actsearch.errors import UserError
from actsearch.experiment import run_experiment
from actsearch.statistics import PAIRED, compare_to_best
from actsearch.trials import Trial, plan_trials, point_id, short_keys

ACTIVATIONS = ["relu", "sigmoid"]
DEPTHS = [1, 2]
SEEDS = [0, 1]


def sweep_config(out: Path, **sections) -> dict:
    """A 2-point depth sweep of a tiny MLP: 2 activations x 2 depths x 2 seeds, 1 epoch."""
    cfg = tiny_config(out, data={"limit_train": 200, "limit_test": 100},
                      model={"architecture": "mlp", "width": 8, "activations": ACTIVATIONS},
                      training={"seeds": SEEDS, "batch_size": 50},
                      diagnostics={"enabled": True, "probe_size": 32},
                      plots={"exclude": []})
    cfg["sweep"] = {"model.depth": DEPTHS}
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, Path, str, dict[str, int]]:
    """A study that grew, shared by the tests below: first relu at depth 1 with seed 0 (the
    local executor), then grown to both activations, depths 1 and 2 and seeds 0 and 1 (the
    fused executor: how trials run may change). Returns (config path, results folder, the
    second run's log, the first record's mtime)."""
    root = tmp_path_factory.mktemp("sweep")
    out = root / "out"
    first = sweep_config(out, model={"activations": ["relu"]}, training={"seeds": [0]})
    first["sweep"] = {"model.depth": [1]}
    assert main(["run", str(write_config(root / "first.yaml", first)), "--quiet"]) == 0
    stamp = (out / "trials" / "relu-depth1-seed0.json").stat().st_mtime_ns
    path = write_config(root / "sweep.yaml", sweep_config(out, execution={"executor": "fused"}))
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        assert main(["run", str(path)]) == 0
    return path, out, log.getvalue(), {"relu-depth1-seed0": stamp}


def expected_ids(depths=DEPTHS, seeds=SEEDS, activations=ACTIVATIONS) -> set[str]:
    return {f"{a}-depth{d}-seed{s}" for a in activations for d in depths for s in seeds}


def test_every_activation_point_and_seed_trains_with_its_own_config(swept):
    _, out, _, _ = swept
    records = {p.stem: json.loads(p.read_text()) for p in (out / "trials").glob("*.json")}
    assert set(records) == expected_ids()
    for trial_id, record in records.items():
        depth = int(trial_id.split("-depth")[1].split("-")[0])
        assert record["status"] == "ok"
        assert record["config"]["model"]["depth"] == depth  # the exact config it ran with
        assert "sweep" not in record["config"]
    # the point reached the network (local at depth 1, fused at depth 2): one more 8x8
    # hidden layer (+ bias) at depth 2
    params = {d: records[f"relu-depth{d}-seed0"]["params"] for d in DEPTHS}
    assert params[2] - params[1] == 8 * 8 + 8
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:4]) == ["trial", "activation", "model.depth", "seed"]
    assert sorted(summary.groupby(["model.depth", "activation"]).size()) == [2] * 4
    histories = pd.read_csv(out / "histories.csv")
    assert set(histories["model.depth"]) == set(DEPTHS)


def test_statistics_rank_and_test_activations_within_each_point(swept):
    _, out, _, _ = swept
    stats = pd.read_csv(out / "statistics.csv")
    summary = pd.read_csv(out / "summary.csv")
    assert list(stats["model.depth"]) == [1, 1, 2, 2]
    for depth in DEPTHS:
        at = stats[stats["model.depth"] == depth].set_index("activation")
        assert sorted(at["rank"]) == [1, 2]
        rows = summary[summary["model.depth"] == depth]
        means = rows.groupby("activation")["test_categorical_accuracy"].mean()
        assert at["test_categorical_accuracy_mean"].to_dict() == pytest.approx(means.to_dict())
        # the test against the best uses this point's seeds only (paired over seeds 0 and 1)
        (comparison,) = compare_to_best(rows, "test_categorical_accuracy")
        other = at.loc[comparison.activation]
        assert other["test_vs_best"] == PAIRED
        assert other["p_value_vs_best"] == pytest.approx(comparison.p_value, nan_ok=True)
        assert other["diff_to_best"] == pytest.approx(comparison.difference)


def test_report_and_plots_have_one_section_or_panel_per_point(swept):
    _, out, _, _ = swept
    md = (out / "summary.md").read_text()
    for depth in DEPTHS:
        assert f"## Ranking, depth={depth}\n" in md
        assert f"## Inside the networks, depth={depth}\n" in md
        assert (out / "plots" / f"diagnostics_gradients-depth{depth}.png").is_file()
    assert "## Across the sweep" in md and "| activation | depth=1 | depth=2 |" in md
    assert "Swept: model.depth 1, 2 (2 points" in md
    for name in ("val_accuracy", "val_loss", "objective_vs_depth"):
        assert (out / "plots" / f"{name}.png").is_file(), name
    html = (out / "report.html").read_text()
    assert "Ranking, depth=2" in html and "objective_vs_depth" in html


def test_a_finished_study_grows_by_activations_seeds_and_values_training_only_new_ones(
        swept):
    _, out, log, stamps = swept
    assert log.count("already finished, skipped") == 1
    assert "[1/8] relu depth=1 seed 0: already finished, skipped" in log
    assert log.count(": done in ") == 7
    # the fused executor groups the pending trials that share a point and a seed
    assert "fused depth=1 seed 0: sigmoid as one model" in log
    assert "fused depth=2 seed 1: relu, sigmoid as one model" in log
    for trial_id, stamp in stamps.items():  # the first run's record is untouched
        assert (out / "trials" / f"{trial_id}.json").stat().st_mtime_ns == stamp
    first = json.loads((out / "trials" / "relu-depth1-seed0.json").read_text())
    grown = json.loads((out / "trials" / "sigmoid-depth2-seed1.json").read_text())
    assert first["config"]["execution"]["executor"] == "local"
    assert first["config"]["model"]["activations"] == ["relu"]
    assert grown["config"]["execution"]["executor"] == "fused"
    assert yaml.safe_load((out / "config.yaml").read_text())["sweep"] == {"model.depth": DEPTHS}


@pytest.mark.parametrize("change, message", [
    ({"training": {"epochs": 2}}, "holds results of a different config (training.epochs"),
    ({"model": {"width": 16}}, "holds results of a different config (model.width"),
    ({"sweep": {"model.depth": DEPTHS, "model.width": [8, 16]}},
     "was swept over [model.depth], this config sweeps [model.depth, model.width]"),
])
def test_changing_what_existing_trials_mean_is_refused(swept, tmp_path, capsys, change,
                                                       message):
    _, first, _, _ = swept
    out = tmp_path / "out"
    shutil.copytree(first, out)
    cfg = sweep_config(out)
    for section, values in change.items():
        cfg[section] = {**cfg[section], **values} if section != "sweep" else values
    capsys.readouterr()
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert yaml.safe_load((out / "config.yaml").read_text())["sweep"] == {"model.depth": DEPTHS}


@pytest.mark.parametrize("override, message", [
    ("sweep.model.dept=[1,2]", "sweep model.dept: unknown config key (did you mean model.depth?)"),
    ("sweep.model.activations=[[relu]]", "sweep model.activations: it is already an axis"),
    ("sweep.training.seeds=[[0]]", "sweep training.seeds: it is already an axis"),
    ("sweep.output.dir=[a,b]", "sweep output.dir: cannot be swept"),
    ("sweep.search.seed=[1,2]", "sweep search.seed: cannot be swept"),
    ("sweep.name=[a,b]", "sweep name: cannot be swept"),
    ("sweep.sweep=[1]", "sweep sweep: cannot be swept"),
    ("sweep.model.depth=[2,deep]", "sweep model.depth must be an integer, got 'deep'"),
    ("sweep.model.depth=3", "sweep model.depth must be a non-empty list of values"),
    ("sweep.model.depth=[]", "sweep model.depth must be a non-empty list of values"),
    ("sweep.model.depth=[2,2]", "sweep model.depth lists a value twice"),
    ("sweep.model.depth=[2,0]", "sweep point model.depth=0: model.depth must be at least 1"),
    ("sweep=[1]", "sweep must be a mapping of dotted config keys to lists of values"),
])
def test_bad_sweeps_are_refused_in_one_line_by_the_cli(tmp_path, capsys, override, message):
    path = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "out"))
    assert main(["run", str(path), "--set", override]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_ids_name_the_point_and_stay_as_before_without_a_sweep(tmp_path):
    assert Trial("relu", 0).id == "relu-seed0" and Trial("relu", 0).head == "[0/1] relu seed 0"
    plain = config_from_dict(tiny_config(tmp_path))
    assert "sweep" not in plain.to_dict() and [t.id for t in plan_trials(plain)] == ["relu-seed0"]
    assert short_keys(["model.depth", "training.optimizer.learning_rate"]) == {
        "model.depth": "depth", "training.optimizer.learning_rate": "learning_rate"}
    assert short_keys(["training.optimizer.clipvalue", "training.clipvalue"]) == {
        "training.optimizer.clipvalue": "optimizer.clipvalue",
        "training.clipvalue": "training.clipvalue"}
    cfg = config_from_dict({**tiny_config(tmp_path), "sweep": {
        "training.optimizer.learning_rate": [0.001, 1e-5], "model.leaky_relu_slope": [0.2]}})
    ids = [t.id for t in plan_trials(cfg)]
    assert ids == ["relu-learning_rate0.001-leaky_relu_slope0.2-seed0",
                   "relu-learning_rate1e-05-leaky_relu_slope0.2-seed0"]
    assert point_id((("training.epochs", 3),)) == "-epochs3"
    # the nested form `--set sweep.model.depth=[..]` writes is the same sweep
    nested = config_from_dict({**tiny_config(tmp_path), "sweep": {"model": {"depth": [1, 2]}}})
    assert nested.sweep == {"model.depth": [1, 2]}


def test_swept_values_are_checked_against_the_architecture_before_training(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "out")  # article_cnn takes no depth
    cfg["sweep"] = {"model.depth": [1, 2]}
    with pytest.raises(UserError, match="model.depth"):
        run_experiment(config_from_dict(cfg), quiet=True, log=lambda m: None)
    assert not (tmp_path / "out").exists()
