"""`actsearch search` on real tiny images: screening before training, successive halving by the
objective, equivalent candidates trained once, evolution told the scores, the confirm run's
statistics and claim, a SIGKILL and resume, and one-line errors for a bad search section."""

import json

import pandas as pd
import pytest
import yaml
from conftest import kill_run_when, tiny_config, write_config

import actsearch
from actsearch.activations import file_safe
from actsearch.bundled import resolve_config
from actsearch.cli import main
from actsearch.config import Config, config_from_dict, load_config
from actsearch.search import check_search
from actsearch.statistics import ranking_verdict

REFUSED = "exp(x) ** 8"  # its slope explodes over any range the network sees
EQUIVALENT = ["x * sigmoid(x) + x * sigmoid(x)", "2 * x * sigmoid(x)"]  # one function
OBJECTIVE = "val_categorical_accuracy"


def search_config(out, **search) -> dict:
    """4 candidates (2 included, 2 from evolution) through rungs of 1 epoch on 128 and 256
    images, keeping half; the best confirmed with 2 seeds beside relu. Fused: a batch is one
    model, the fastest way through on a CPU. A small MLP: the search needs only a network
    with *_act layers (its screening range is measured on them)."""
    values = {"algorithm": "evolution", "seed": 1, "population_size": 2, "sample_size": 1,
              "candidates": 4, "batch": 4, "include": [REFUSED, *EQUIVALENT, "relu(x) + 0.5"],
              "rungs": [{"epochs": 1, "limit_train": 128}, {"epochs": 1, "limit_train": 256}],
              "keep": 0.5, "confirm": {"top": 1, "seeds": [0, 1], "epochs": 1,
                                       "baselines": ["relu"]}}
    values.update(search)
    return tiny_config(out, search=values, execution={"executor": "fused"},
                       model={"architecture": "mlp", "depth": 2, "width": 32})


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One uninterrupted search through the Python API (the reference for the resume test)."""
    root = tmp_path_factory.mktemp("search")
    outcome = actsearch.search(search_config(root / "out"), quiet=True)
    return root / "out", outcome


def _history(out, k, text):
    return out / "search" / f"rung{k}" / "histories" / f"{file_safe(text)}-seed0.csv"


def test_screening_refuses_before_training_and_equivalents_train_once(searched):
    out, outcome = searched
    board = pd.read_csv(out / "search" / "leaderboard.csv")
    assert list(board["screening"]).count("duplicate") == 1
    refused = board[board["expression"] == REFUSED].iloc[0]
    assert refused["screening"] == "refused"
    assert "derivative explodes" in refused["screening_detail"]
    assert refused["rung_reached"] == 0 and not _history(out, 0, REFUSED).exists()
    twins = board[board["fingerprint"] == board.loc[board["screening"] == "duplicate",
                                                     "fingerprint"].iloc[0]]
    assert sorted(twins["screening"]) == ["duplicate", "ok"]
    assert [_history(out, 0, t).exists() for t in twins["expression"]].count(True) == 1
    assert (board["screening"] == "ok").sum() == 4
    assert list(outcome.leaderboard["expression"]) == list(board["expression"])  # the API's


def test_rungs_promote_the_best_by_the_objective_read_from_the_histories(searched):
    out, _ = searched
    board = pd.read_csv(out / "search" / "leaderboard.csv")
    trained = board[board["screening"] == "ok"]
    for _, row in trained.iterrows():  # each rung's objective is its history's last epoch
        hist = pd.read_csv(_history(out, 0, row["expression"]))
        assert row[f"{OBJECTIVE}_rung0"] == pytest.approx(hist[OBJECTIVE].iloc[-1])
        assert row["trials"].startswith(f"rung0/{file_safe(row['expression'])}-seed0")
    promoted = trained[trained["rung_reached"] == 2]
    dropped = trained[trained["rung_reached"] == 1]
    assert len(promoted) == 2 and len(dropped) == 2  # keep 0.5 of 4
    assert promoted[f"{OBJECTIVE}_rung0"].min() >= dropped[f"{OBJECTIVE}_rung0"].max()
    for text in promoted["expression"]:
        assert _history(out, 1, text).is_file()
    for text in dropped["expression"]:
        assert not _history(out, 1, text).exists()
    # ranked by the rung reached, then the objective there
    assert list(board["rank"].iloc[:4]) == [1, 2, 3, 4]
    assert list(board["rung_reached"].iloc[:4]) == [2, 2, 1, 1]
    assert board[f"{OBJECTIVE}_rung1"].iloc[0] >= board[f"{OBJECTIVE}_rung1"].iloc[1]
    # the rung folder is an ordinary results folder listing what entered it
    rung1 = config_from_dict(yaml.safe_load(
        (out / "search" / "rung1" / "config.yaml").read_text()))
    assert sorted(rung1.model.activations) == sorted(promoted["expression"])


def test_evolution_is_told_every_trained_candidate_s_score(searched):
    out, _ = searched
    state = json.loads((out / "search" / "state.json").read_text())
    board = pd.read_csv(out / "search" / "leaderboard.csv").set_index("expression")
    population = state["evolution"]["population"]
    proposed = board[(board["source"] == "evolution") & (board["screening"] == "ok")]
    assert len(proposed) == 2
    assert sorted(e["text"] for e in population) == sorted(proposed.index)
    for entry in population:
        assert entry["score"] == pytest.approx(board.loc[entry["text"], "score"])
    # a score is the last rung's objective, minus 1000 per rung not reached
    for _, row in board[board["screening"] == "ok"].iterrows():
        last = row[f"{OBJECTIVE}_rung{row['rung_reached'] - 1}"]
        assert row["score"] == pytest.approx(last - 1000 * (2 - row["rung_reached"]))


def test_confirm_run_has_statistics_and_the_search_states_the_claim(searched):
    out, outcome = searched
    board = pd.read_csv(out / "search" / "leaderboard.csv")
    best = board["expression"].iloc[0]
    summary = pd.read_csv(out / "confirm" / "summary.csv")
    assert sorted(summary["activation"]) == sorted(["relu", "relu", best, best])
    stats = pd.read_csv(out / "confirm" / "statistics.csv")
    assert set(stats["activation"]) == {"relu", best}
    assert "p_adjusted_vs_best" in stats
    assert (out / "confirm" / "report.html").is_file()
    verdict = ranking_verdict(summary, "test_categorical_accuracy")
    expected = verdict.best == best and "relu" in verdict.distinguishable
    assert outcome.beats_baselines == expected
    assert outcome.verdict.startswith("Yes" if expected else "No")
    text = (out / "search" / "summary.md").read_text()
    assert outcome.verdict in text
    html = (out / "search" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2  # shapes and progress
    assert (out / "search" / "leaderboard.md").read_text().count("\n|") == len(board) + 2


def test_sigkill_and_rerun_continue_without_retraining(searched, tmp_path, capsys):
    reference, _ = searched
    out = tmp_path / "out"
    cfg = search_config(out, confirm={"top": 0})  # the confirm step does not change the board
    path = write_config(tmp_path / "search.yaml", cfg)
    rung0 = out / "search" / "rung0" / "trials"
    kill_run_when(path, lambda: rung0.is_dir() and len(list(rung0.glob("*.json"))) == 4,
                  settle=0.3, command="search")
    assert not (out / "search" / "leaderboard.csv").exists()
    finished = {p: p.stat().st_mtime_ns for p in (out / "search" / "rung0" / "histories")
                .glob("*.csv")}
    assert len(finished) == 4

    capsys.readouterr()
    assert main(["search", str(path)]) == 0  # the rerun: in this process
    rerun = capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # not retrained
    resumed = pd.read_csv(out / "search" / "leaderboard.csv")
    expected = pd.read_csv(reference / "search" / "leaderboard.csv")
    same = ["expression", "fingerprint", "screening", "rung_reached", "rank"]
    pd.testing.assert_frame_equal(resumed[same], expected[same])
    for k in (0, 1):
        column = f"{OBJECTIVE}_rung{k}"
        assert resumed[column].to_numpy() == pytest.approx(expected[column].to_numpy(),
                                                           abs=1e-6, nan_ok=True)
    assert "search: 4/4 candidates" in rerun


@pytest.mark.parametrize("setting, word", [
    ("search.keep=2", "search.keep"),
    ("search.rungs=[{epoch: 1}]", "search.rungs.epoch"),
    ("search.space.unary=[tanhh]", "did you mean tanh"),
    ("search.algorithm=grid", "search.algorithm"),
    ("search.include=['x +']", "not a valid expression"),
    ("search.confirm.baselines=[relu, nope]", "nope"),
])
def test_bad_search_section_is_a_one_line_error(tmp_path, capsys, setting, word):
    path = write_config(tmp_path / "c.yaml", search_config(tmp_path / "out"))
    assert main(["search", str(path), "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("actsearch: error:") and word in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_default_search_section_leaves_run_configs_as_before():
    assert "search" not in Config().to_dict()  # old results folders still resume
    cfg = config_from_dict({"search": {"rungs": {"epochs": 2}}})
    assert [r.epochs for r in cfg.search.rungs] == [2]
    assert config_from_dict(cfg.to_dict()).search == cfg.search


def test_shipped_search_config_passes_every_check_before_training():
    cfg = load_config(resolve_config("search-fashion"))
    assert len(check_search(cfg).binary) == 6
    assert cfg.data.validation == "split"  # the confirm run's test set stays unseen
