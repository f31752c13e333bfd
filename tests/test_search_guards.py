"""What a search refuses before any work, on real tiny images: a resumed search whose
execution settings change its numbers (mixed precision, XLA), and a confirm run that would
pick its epochs or trials on the test set it reports."""

import sqlite3

import pytest
from conftest import tiny_config, write_config

from actsearch.cli import main
from actsearch.config import load_config
from actsearch.search import check_search


def guard_config(out, **search) -> dict:
    """2 included candidates, one rung of 1 epoch on 128 images of a small MLP; the confirm
    run (when on) validated on the test set, as the article's; no fidelity measurement."""
    values = {"algorithm": "random", "seed": 0, "candidates": 2, "batch": 2,
              "include": ["x * sigmoid(x)", "tanh(x) * x"],
              "rungs": [{"epochs": 1, "limit_train": 128}], "keep": 0.5,
              "confirm": {"top": 0, "seeds": [1, 2], "epochs": 1, "baselines": ["relu"],
                          "data": {"validation": "test"}, "probes": 0, "probe_top": 0},
              "fidelity": {"retest_random": 0, "retest_top": 0, "probes": 0},
              "space": {"unary": ["x", "tanh", "sigmoid", "scale"], "binary": ["mul", "add"]}}
    values.update(search)
    return tiny_config(out, search=values, data={"validation": "split",
                                                 "validation_split": 0.25},
                       model={"architecture": "mlp", "depth": 1, "width": 16})


def test_a_resumed_search_refuses_execution_settings_that_change_its_numbers(tmp_path, capsys):
    """One search, then a resume with each of mixed precision and XLA (refused, naming the
    key), then one with another executor and one with a named reference (allowed)."""
    path = write_config(tmp_path / "c.yaml", guard_config(tmp_path / "out"))
    assert main(["search", str(path)]) == 0
    db = tmp_path / "out" / "search" / "search.db"
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT COUNT(*) FROM rung_results").fetchone()[0]
    assert before == 2
    for setting in ("execution.mixed_precision=true", "execution.jit_compile=true"):
        capsys.readouterr()
        assert main(["search", str(path), "--set", setting]) == 2
        err = capsys.readouterr().err.strip()
        key = setting.split("=")[0]
        assert err.startswith("actsearch: error:") and "\n" not in err
        assert f"{key} was False, now True" in err and "different config" in err
        with sqlite3.connect(db) as conn:  # nothing trained or written by a refused session
            assert conn.execute("SELECT COUNT(*) FROM rung_results").fetchone()[0] == before
    assert main(["search", str(path), "--set", "execution.executor=local"]) == 0  # may change
    # how the confirm run is reported changes no candidate's numbers
    assert main(["search", str(path), "--set", "statistics.reference=relu"]) == 0


@pytest.mark.parametrize("setting, word", [
    ("training.restore_best=true", "training.restore_best"),
    ("training.early_stopping_patience=2", "training.early_stopping_patience"),
    ("pruning.enabled=true", "pruning.enabled"),
])
def test_a_confirm_run_validated_on_the_test_set_refuses_selection_on_it(
        tmp_path, capsys, setting, word):
    path = write_config(tmp_path / "c.yaml", guard_config(tmp_path / "out", confirm={
        "top": 1, "seeds": [1, 2], "epochs": 1, "baselines": ["relu"],
        "data": {"validation": "test"}}))
    assert main(["search", str(path), "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("actsearch: error:") and "\n" not in err
    assert word in err and "search.confirm.data.validation is test" in err
    assert "search.allow_test_selection" in err
    assert not (tmp_path / "out").exists()  # refused before any training
    allowed = load_config(path, overrides=[setting, "search.allow_test_selection=true"])
    assert check_search(allowed).units == 1
    split = load_config(path, overrides=[setting, "search.confirm.data.validation=split"])
    assert check_search(split).units == 1  # selecting on held-out images is fine


def test_a_search_of_an_older_schema_is_refused_in_one_line(tmp_path, capsys):
    """A search.db written by an earlier actsearch (schema 2: rung scores without loss and
    metric, fidelity runs scored otherwise) is not resumed: its scores would not compare."""
    path = write_config(tmp_path / "c.yaml", guard_config(tmp_path / "out"))
    db = tmp_path / "out" / "search" / "search.db"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("CREATE TABLE rung_results (candidate INTEGER NOT NULL, rung INTEGER NOT "
                     "NULL, status TEXT NOT NULL, epochs INTEGER NOT NULL, objective REAL, "
                     "error TEXT, seq INTEGER NOT NULL, PRIMARY KEY (candidate, rung))")
        conn.execute("INSERT INTO meta VALUES ('version', '2')")
    assert main(["search", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("actsearch: error:") and "\n" not in err
    assert "schema 2, this one reads 3" in err and "--out DIR" in err
    with sqlite3.connect(db) as conn:  # nothing written by the refused session
        assert conn.execute("SELECT COUNT(*) FROM rung_results").fetchone()[0] == 0
