"""`actsearch search` on real tiny images: screening before training, promotion across the
whole rung (ASHA), equivalent candidates trained once and a learnable parameter trained as its
own candidate, evolution told every rung-0 objective, the state in SQLite, the confirm run on
seeds the rungs did not use, a failing candidate recorded while the search goes on, a SIGKILL
and resume, and one-line errors for a bad search section."""

import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURE, kill_run_when, tiny_config, write_config
from scipy.stats import spearmanr

import actsearch
from actsearch.activations import ActivationOptions, file_safe
from actsearch.bundled import resolve_config
from actsearch.cli import main
from actsearch.config import Config, config_from_dict, load_config
from actsearch.data import read_source
from actsearch.errors import UserError
from actsearch.expressions import canonical, evaluate_numpy, fingerprint, parse
from actsearch.models import build_model
from actsearch.search import check_search, run_search
from actsearch.search.fidelity import measure as measure_fidelity
from actsearch.search.loop import Search
from actsearch.search.loop import search_config as make_config
from actsearch.search.rungs import rung_config
from actsearch.search.state import CandidateRecord, SearchDB
from actsearch.search.validation import held_out
from actsearch.statistics import claim_bounds

REFUSED = "exp(x) ** 8"  # its slope explodes over any range the network sees
EQUIVALENT = ["x * sigmoid(x) + x * sigmoid(x)", "2 * x * sigmoid(x)"]  # one function
SWISH, SWISH_BETA = "x * sigmoid(x)", "x * sigmoid(beta * x)"  # fixed and learnable
OBJECTIVE = "val_categorical_accuracy"
KEEP = 0.5
CNN = "article_cnn"


NOT_MEASURED = {"retest_random": 0, "retest_top": 0, "probes": 0}  # search.fidelity off


def search_config(out, measured: bool = False, **search) -> dict:
    """6 candidates (3 included, 3 from evolution, from a space of 1,444 genomes) in batches of
    3 through rungs of 1 epoch on 128 and 256 images, promoting the top half of each rung;
    the best confirmed with 2 seeds beside relu. Selection on a held-out split. The fidelity
measurement is off unless `measured` (then: its defaults). Transfer: rung
    0 trains a small MLP, rung 1 and the confirm run the article's CNN, the confirm run
    validated on the test set of 256 training images (as the article)."""
    values = {"algorithm": "evolution", "seed": 1, "population_size": 8, "sample_size": 2,
              "candidates": 6, "batch": 3, "rung_metric": "metric",
              "include": [REFUSED, *EQUIVALENT, SWISH_BETA, SWISH],
              "rungs": [{"epochs": 1, "limit_train": 128},
                        {"epochs": 1, "limit_train": 256, "model": {"architecture": CNN}}],
              "keep": KEEP, "confirm": {"top": 1, "seeds": [0, 1], "epochs": 1,
                                        "baselines": ["relu"], "model": {"architecture": CNN},
                                        "data": {"validation": "test"}},
              "space": {"unary": ["x", "neg", "abs", "relu", "sigmoid", "tanh", "sin", "gauss",
                                  "softplus", "scale", "shift"],
                        "binary": ["add", "mul", "max", "sigmoid_mul"]}}
    values.update(search)
    if not measured:  # the fidelity measurement's own tests use the fixture's, by default
        values.setdefault("fidelity", NOT_MEASURED)
        values["confirm"] = {"probes": 0, "probe_top": 0, **values["confirm"]}
    return tiny_config(out, search=values, execution={"executor": "fused"},
                       data={"validation": "split", "validation_split": 0.25},
                       model={"architecture": "mlp", "depth": 2, "width": 32})


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One uninterrupted search through the Python API (the reference for the resume test),
    with the leaderboard read each time a progress line is logged."""
    root = tmp_path_factory.mktemp("search")
    lines, boards = [], []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("search: batch"):
            boards.append(pd.read_csv(root / "out" / "search" / "leaderboard.csv"))
    outcome = run_search(make_config(search_config(root / "out", measured=True)), log=log)
    return root / "out", outcome, lines, boards


def _board(out) -> pd.DataFrame:
    return pd.read_csv(out / "search" / "leaderboard.csv")


def _db(out) -> SearchDB:
    return SearchDB(out / "search" / "search.db")


def test_screening_refuses_before_training_and_equivalents_train_once(searched):
    out, outcome, _, _ = searched
    board = _board(out)
    assert list(board["screening"]).count("duplicate") == 1
    refused = board[board["expression"] == canonical(parse(REFUSED))].iloc[0]
    assert refused["screening"] == "refused"
    assert "derivative explodes" in refused["screening_detail"]
    assert refused["rung_reached"] == 0 and pd.isna(refused["rank"])
    twins = board[board["fingerprint"] == board.loc[board["screening"] == "duplicate",
                                                     "fingerprint"].iloc[0]]
    assert sorted(twins["screening"]) == ["duplicate", "ok"]
    duplicate, first = twins.sort_values("screening")["rung_reached"]
    assert duplicate == 0 and first >= 1  # trained once, as the first of the two
    assert (board["screening"] == "ok").sum() == 6
    assert list(outcome.leaderboard["expression"]) == list(board["expression"])  # the API's


def test_a_learnable_beta_is_its_own_candidate_trained_on_its_own(searched):
    out, _, _, _ = searched
    board = _board(out).set_index("expression")
    fixed, learnable = board.loc[canonical(parse(SWISH))], board.loc[canonical(parse(SWISH_BETA))]
    assert fixed["screening"] == learnable["screening"] == "ok"
    assert fixed["fingerprint"] != learnable["fingerprint"]
    db = _db(out)
    histories = [db.history(int(row["index"]), 0) for row in (fixed, learnable)]
    db.close()
    for history in histories:  # each trained one epoch at rung 0, from the same seed
        assert list(history["epoch"]) == [1] and history["loss"].notna().all()
    # beta moves during training, so the learnable function's numbers are its own
    assert histories[0]["loss"].iloc[0] != histories[1]["loss"].iloc[0]


def test_promotion_is_by_standing_among_everything_the_rung_has_seen(searched):
    out, _, _, _ = searched
    board = _board(out)
    trained = board[board["screening"] == "ok"]
    db = _db(out)
    for _, row in trained.iterrows():  # each rung's objective is its history's last epoch
        history = db.history(int(row["index"]), 0)
        assert row[f"{OBJECTIVE}_rung0"] == pytest.approx(history[OBJECTIVE].iloc[-1])
    db.close()
    # replay ASHA from the rung-0 objectives, batch by batch: the top floor(n * keep) of
    # everything rung 0 has seen after each batch goes on
    expected: set[int] = set()
    seen: list[tuple[float, int]] = []
    for batch in sorted(trained["batch"].unique()):
        rows = trained[trained["batch"] == batch]
        seen += [(-r[f"{OBJECTIVE}_rung0"], r["index"]) for _, r in rows.iterrows()]
        expected |= {i for _, i in sorted(seen)[:math.floor(len(seen) * KEEP)]}
    promoted = set(trained.loc[trained["rung_reached"] == 2, "index"])
    assert promoted == expected and len(promoted) == 3
    # a later batch promoted a candidate of an earlier one, or beat it: standing is global
    assert len(trained["batch"].unique()) == 2
    assert list(board["rank"].iloc[:6]) == [1, 2, 3, 4, 5, 6]
    assert list(board["rung_reached"].iloc[:6]) == [2, 2, 2, 1, 1, 1]
    assert list(board[f"{OBJECTIVE}_rung1"].iloc[:3]) == sorted(
        board[f"{OBJECTIVE}_rung1"].iloc[:3], reverse=True)


def test_evolution_is_told_every_rung0_objective_including_the_included(searched):
    out, _, _, _ = searched
    board = _board(out)
    db = _db(out)
    population = db.meta()["evolution"]["population"]
    db.close()
    told = {fingerprint(parse(entry["text"])): entry["score"] for entry in population}
    trained = board[board["screening"] == "ok"]
    assert len(told) == len(trained) == 6  # 3 from evolution, 3 included (as their genomes)
    for _, row in trained.iterrows():
        assert told[row["fingerprint"]] == pytest.approx(row[f"{OBJECTIVE}_rung0"])
        assert row["score"] == pytest.approx(row[f"{OBJECTIVE}_rung0"])  # no penalty per rung


def test_progress_line_and_leaderboard_after_each_batch(searched):
    out, _, lines, boards = searched
    progress = [line for line in lines if line.startswith("search: batch")]
    assert len(progress) == 2 == len(boards)
    assert progress[0].startswith("search: batch 0: 3/6 candidates (rung 0: 3, rung 1: 1)")
    assert progress[1].startswith("search: batch 1: 6/6 candidates (rung 0: 6, rung 1: 3)")
    for line in progress:
        assert "candidates/h; best so far " in line and f"{OBJECTIVE} 0." in line
    assert "left" in progress[0] and progress[1].endswith("done")
    assert (boards[0]["rung_reached"] > 0).sum() == 3 and (boards[1]["rung_reached"] > 0).sum() == 6
    assert (out / "search" / "report.html").is_file()


def test_confirm_run_uses_seeds_the_rungs_did_not_and_states_the_claim(searched):
    out, outcome, lines, _ = searched
    board = _board(out)
    best = board["expression"].iloc[0]
    summary = pd.read_csv(out / "confirm" / "summary.csv")
    assert sorted(summary["activation"]) == sorted(["relu", "relu", best, best])
    assert sorted(summary["seed"].unique()) == [1, 2]  # [0, 1] without the rungs' seed 0
    assert any("confirm run uses seeds [2, 1]" in line for line in lines)
    stats = pd.read_csv(out / "confirm" / "statistics.csv")
    assert set(stats["activation"]) == {"relu", best}
    expected = claim_bounds(summary, "test_categorical_accuracy", [best], ["relu"]).beats
    assert outcome.beats_baselines == expected
    assert outcome.verdict.startswith("Yes" if expected else "No")
    assert outcome.verdict in (out / "search" / "summary.md").read_text()
    html = (out / "search" / "report.html").read_text()
    # fidelity, shapes, the confirm run's two curves, progress, rung correlation
    assert html.count("data:image/png;base64,") == 6
    assert (out / "search" / "leaderboard.md").read_text().count("\n|") == len(board) + 2


def test_a_rung_and_the_confirm_run_train_their_own_network_and_data(searched, tmp_path):
    """Rung 1 trains the article's CNN: a promoted candidate's rung-1 history is the one
    `actsearch run` gives it with the CNN on rung 1's images; the confirm run trains the CNN
    (its parameter count, as Keras counts it) validated on the test set."""
    out, _, _, _ = searched
    cfg = make_config(search_config(out))
    board = _board(out)
    promoted = board[board["rung_reached"] == 2].iloc[0]
    db = _db(out)
    try:
        engine = db.history(int(promoted["index"]), 1)
    finally:
        db.close()
    rung1 = rung_config(cfg, 1, [promoted["expression"]]).to_dict()
    rung1["output"]["dir"] = str(tmp_path / "rung1")
    assert rung1["model"]["architecture"] == CNN and rung1["data"]["limit_train"] == 256
    # the rung's images: of the search's 256 (data.limit_train), 64 held out (a quarter,
    # data.validation_split: fewer than search.validation_images) validate every rung, and
    # rung 1 trains on the 192 left (actsearch/search/validation.py); given to `run` as arrays
    raw, _ = read_source(cfg.data)
    raw = {key: value[:256] if key.endswith("train") else value for key, value in raw.items()}
    held = held_out(256, 256, cfg.search.validation_images, cfg.data.validation_split)
    assert len(held.validation) == 64
    train = held.training[:256]
    rung1["data"].update({"validation": "test", "limit_train": None, "limit_test": None})
    arrays = (raw["x_train"][train], raw["y_train"][train],
              raw["x_train"][held.validation], raw["y_train"][held.validation])
    ordinary = actsearch.run(rung1, quiet=True, data=arrays).histories
    assert ordinary["val_loss"].to_numpy() == pytest.approx(engine["val_loss"].to_numpy(),
                                                            rel=1e-4)
    summary = pd.read_csv(out / "confirm" / "summary.csv")
    cnn = build_model(CNN, "relu", ActivationOptions(), (28, 28, 1), 10).count_params()
    assert set(summary["params"]) == {cnn}
    confirm = load_config(out / "confirm" / "config.yaml")
    assert confirm.data.validation == "test" and confirm.model.architecture == CNN


def test_rank_correlations_between_rungs_are_said_with_a_plot(searched):
    """summary.md opens with the verdict and the fidelity figures; then it gives the
    candidates per hour and each rung pair's Spearman rho over the promoted candidates (as
    scipy computes it from the leaderboard), with a scatter plot."""
    out, outcome, _, _ = searched
    board = _board(out)
    both = board[[f"{OBJECTIVE}_rung0", f"{OBJECTIVE}_rung1"]].dropna()
    rho = spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic
    text = (out / "search" / "summary.md").read_text()
    opening, about = text.split("## ")[0], text.split("## About this search")[1]
    assert opening.index("Verdict:") < opening.index("Can this search order its candidates?")
    assert "| pair of scores |" in opening and "Cost of the fidelity measurement" in opening
    assert about.index("per CPU-hour") < about.index("rho")
    assert f"rung 0 -> rung 1: Spearman rho {rho:.2f}" in about and f"n = {len(both)}" in about
    assert "rung 1 -> confirm (test_categorical_accuracy, mean over seeds)" in about
    assert (out / "search" / "plots" / "rung_correlation.png").stat().st_size > 0


def _fidelity_runs(out) -> list[tuple]:
    with sqlite3.connect(out / "search" / "search.db") as conn:
        return conn.execute("SELECT rowid, kind, rung, candidate, status, objective FROM "
                            "fidelity_runs ORDER BY rowid").fetchall()


def test_every_search_measures_its_fidelity_as_scipy_computes_it(searched):
    """With the default search.fidelity, a search writes fidelity.csv and its pairs; each
    rho is scipy's over the pairs, and the report's opening says it with a plot."""
    out, _, _, _ = searched
    table = pd.read_csv(out / "search" / "fidelity.csv")
    pairs = pd.read_csv(out / "search" / "fidelity_pairs.csv")
    assert list(table.columns) == ["kind", "rung", "sample", "n", "rho", "low", "high",
                                   "noise_sd", "top_spread"]
    assert list(pairs.columns)[:7] == ["kind", "rung", "sample", "index", "expression",
                                       "score_a", "score_b"]
    measured = set(zip(table["kind"], table["rung"], table["sample"], strict=True))
    assert {("retest", 0, "random"), ("retest", 0, "top"), ("retest", 1, "random"),
            ("retest", 1, "top"), ("next_rung", 0, "random"), ("next_rung", 0, "top"),
            ("confirm", 1, "random"), ("confirm", 1, "top")} <= measured
    for _, row in table.iterrows():
        part = pairs[(pairs["kind"] == row["kind"]) & (pairs["rung"] == row["rung"])]
        if row["sample"] == "random_above_chance":
            part = part[(part["sample"] == "random") & (part["above_chance"] == True)]  # noqa: E712
        else:
            part = part[part["sample"] == row["sample"]]
        assert len(part) == row["n"]
        if len(part) >= 2 and part["score_a"].nunique() > 1 and part["score_b"].nunique() > 1:
            expected = spearmanr(part["score_a"], part["score_b"]).statistic
            assert row["rho"] == pytest.approx(expected)
    board = _board(out).set_index("index")
    retest = pairs[pairs["kind"] == "retest"]
    for _, row in retest.iterrows():  # score_a is the rung's own result
        assert row["score_a"] == pytest.approx(board.loc[row["index"], f"{OBJECTIVE}_rung"
                                                                        f"{row['rung']}"])
    assert (out / "search" / "plots" / "fidelity.png").stat().st_size > 0


def test_retests_and_probes_are_not_candidates_and_probes_reach_the_unpromoted(searched):
    """The retests and probes train beside the search: the leaderboard, the rungs' results
    and the promotions are those of the candidates alone; rung 0 -> 1 is measured on a draw
    that holds candidates rung 0 did not promote, which trained at rung 1 as probes."""
    out, _, lines, _ = searched
    board = _board(out)
    assert len(board) == 8 and (board["screening"] == "ok").sum() == 6
    assert (board["rung_reached"] == 2).sum() == 3  # keep 0.5 of 6: the probes promote nobody
    with sqlite3.connect(out / "search" / "search.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM rung_results").fetchone()[0] == 9
        probes = {c for (c,) in conn.execute(
            "SELECT candidate FROM fidelity_runs WHERE kind = 'probe' AND rung = 1")}
        retests = conn.execute("SELECT COUNT(*) FROM fidelity_runs WHERE kind = 'retest'"
                               ).fetchone()[0]
    unpromoted = set(board[(board["rung_reached"] == 1)]["index"])
    assert probes == unpromoted and len(probes) == 3
    assert retests == 6 + 3  # every candidate of each rung: the rungs hold fewer than 16
    pairs = pd.read_csv(out / "search" / "fidelity_pairs.csv")
    drawn = set(pairs[(pairs["kind"] == "next_rung") & (pairs["sample"] == "random")]["index"])
    assert unpromoted <= drawn
    assert any("measuring its fidelity: 15 trainings" in line for line in lines)  # 9 + 3 + 3


def test_a_resumed_search_does_not_redo_its_fidelity_runs(searched, tmp_path):
    """A search whose fidelity runs were cut short resumes them: what was committed stays
    (the same rows), only what is missing trains."""
    import shutil
    out = tmp_path / "out"
    shutil.copytree(searched[0] / "search", out / "search")
    before = _fidelity_runs(out)
    with sqlite3.connect(out / "search" / "search.db") as conn:
        conn.execute("DELETE FROM fidelity_runs WHERE kind = 'retest' AND rung = 0")
    cut = [row for row in before if row[1:3] == ("retest", 0)]  # the MLP's: cheap to redo
    kept = [row for row in before if row not in cut]
    lines = []
    cfg = make_config(search_config(out, measured=True, confirm={"top": 0}))
    search = Search(cfg, check_search(cfg), log=lines.append)
    try:
        measure_fidelity(search)  # what Search.run does once every batch is done
    finally:
        search.db.close()
    after = _fidelity_runs(out)
    assert after[:len(kept)] == kept  # committed rows untouched (INSERT would refuse a redo)
    assert "search: measuring its fidelity: 6 trainings (retests, probes, confirm probes; " \
           "not candidates)" in lines  # the 6 retests of rung 0, nothing else
    redone = {row[1:4]: row[5] for row in after[len(kept):]}
    original = {row[1:4]: row[5] for row in cut}
    assert redone.keys() == original.keys()


def test_the_report_gives_the_line_that_takes_a_candidate_home(searched):
    out, _, _, _ = searched
    best = _board(out)["expression"].iloc[0]
    line = f'actsearch.activation_layer("{best}")'
    assert line in (out / "search" / "summary.md").read_text()
    layer = eval(line, {"actsearch": actsearch})  # noqa: S307 - the report's own line
    x = np.linspace(-3, 3, 7, dtype="float32")[None, :]
    assert np.asarray(layer(x)) == pytest.approx(
        evaluate_numpy(parse(best), x, {"beta": 1.0}), abs=1e-5)


@pytest.mark.parametrize("setting, word", [
    ("search.rungs=[{epochs: 1, model: {architecture: article_cnn, depth: 4}}]",
     "search.rungs[0]: model.depth is set but model.architecture article_cnn"),
    ("search.rungs=[{epochs: 1, model: {activations: [relu]}}]", "search.rungs[0].model.act"),
    ("search.rungs=[{epochs: 1, data: {validation: test}}]", "search.rungs[0].data.validation"),
    ("search.confirm.data={limit_trian: 5}", "search.confirm.data.limit_trian"),
    ("search.rungs=[{epochs: 1, model: {architecture: nope}}]", "nope"),
])
def test_transfer_that_cannot_work_is_refused_in_one_line(tmp_path, capsys, setting, word):
    path = write_config(tmp_path / "c.yaml", search_config(tmp_path / "out"))
    assert main(["search", str(path), "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("actsearch: error:") and word in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_state_is_sqlite_with_a_history_table_and_no_file_per_candidate(searched):
    out, _, _, _ = searched
    with sqlite3.connect(out / "search" / "search.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"candidates", "rung_results", "histories", "batches", "meta"} <= tables
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM rung_results").fetchone()[0] == 9  # 6 + 3
    assert not (out / "search" / "state.json").exists()


def _results(out) -> list[tuple]:
    with sqlite3.connect(out / "search" / "search.db") as conn:
        return conn.execute("SELECT candidate, rung, status, objective, seq FROM rung_results "
                            "ORDER BY seq").fetchall()


def test_sigkill_and_rerun_continue_without_retraining(searched, tmp_path, capsys):
    reference, _, _, _ = searched
    out = tmp_path / "out"
    cfg = search_config(out, confirm={"top": 0})  # the confirm step does not change the board
    path = write_config(tmp_path / "search.yaml", cfg)
    db = out / "search" / "search.db"

    def finished(n: int):
        def ready() -> bool:
            try:
                with sqlite3.connect(db, timeout=0.1) as conn:
                    return conn.execute("SELECT COUNT(*) FROM rung_results").fetchone()[0] >= n
            except sqlite3.Error:  # not created yet
                return False
        return ready
    kill_run_when(path, finished(5), settle=0.0, command="search")  # in the second batch
    before = _results(out)
    assert 5 <= len(before) < 9

    capsys.readouterr()
    assert main(["search", str(path)]) == 0  # the rerun: in this process
    rerun = capsys.readouterr().out
    after = _results(out)
    assert after[:len(before)] == before  # nothing committed was trained again
    resumed, expected = _board(out), _board(reference)
    same = ["expression", "fingerprint", "screening", "rung_reached", "rank", "batch"]
    pd.testing.assert_frame_equal(resumed[same], expected[same])
    for k in (0, 1):
        column = f"{OBJECTIVE}_rung{k}"
        assert resumed[column].to_numpy() == pytest.approx(expected[column].to_numpy(),
                                                           abs=1e-6, nan_ok=True)
    assert "6/6 candidates" in rerun


def test_a_failing_candidate_is_recorded_and_the_search_goes_on(tmp_path):
    """The local executor, each rung a results folder: one candidate's history file cannot be
    written (a folder stands at its path), so its training raises; it is recorded failed with
    the reason, gets no score, is not promoted and not told to evolution, and the others
    train and are confirmed."""
    out = tmp_path / "out"
    texts = ["tanh(x) * x", SWISH, "relu(x) + tanh(x)"]
    raw = search_config(out, include=texts, candidates=3, batch=3, keep=0.67,
                        confirm={"top": 1, "seeds": [1], "epochs": 1, "baselines": []})
    raw["execution"] = {"executor": "local"}
    blocked = out / "search" / "rung0" / "histories" / f"{file_safe(SWISH)}-seed0.csv"
    blocked.mkdir(parents=True)
    lines: list[str] = []
    outcome = run_search(make_config(raw), log=lines.append, trainer="folder")
    board = _board(out).set_index("expression")
    failed = board.loc[canonical(parse(SWISH))]
    assert failed["status"] == "failed" and "IsADirectoryError" in failed["error"]
    assert pd.isna(failed["rank"]) and pd.isna(failed["score"]) and failed["rung_reached"] == 1
    assert any(line.startswith(f"search: {canonical(parse(SWISH))} FAILED at rung 0: "
                               "IsADirectoryError") for line in lines)
    others = board.drop(index=canonical(parse(SWISH)))
    assert list(others["status"]) == ["ok", "ok"] and others["rank"].notna().all()
    assert others["rung_reached"].max() == 2  # floor(2 * 0.67) = 1 promoted: the failed not seen
    assert outcome.confirm is not None and canonical(parse(SWISH)) not in outcome.verdict
    db = _db(out)
    told = {fingerprint(parse(e["text"])) for e in db.meta()["evolution"]["population"]}
    db.close()
    assert failed["fingerprint"] not in told and set(others["fingerprint"]) <= told


def test_a_search_refuses_to_select_on_the_test_set_unless_allowed(tmp_path, capsys):
    raw = search_config(tmp_path / "out")
    raw["data"]["validation"] = "test"
    path = write_config(tmp_path / "c.yaml", raw)
    assert main(["search", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("actsearch: error:") and "\n" not in err
    assert "data.validation is test" in err and "search.allow_test_selection" in err
    assert not (tmp_path / "out").exists()
    allowed = load_config(path, overrides=["search.allow_test_selection=true"])
    assert check_search(allowed).units == 1


def test_trial_ids_carry_64_bits_and_a_collision_is_refused(tmp_path):
    """10,000 expressions collide with a chance of about 3e-12 at 64 bits; should two ever
    share an id, the search stops in one line instead of mixing their files."""
    assert len(file_safe(SWISH)) == len("expr-") + 16
    cfg = make_config(search_config(tmp_path / "out"))
    search = Search(cfg, check_search(cfg), log=lambda line: None, trainer="folder")
    try:
        same = "expr-0123456789abcdef"
        for index, text in enumerate(["tanh(x) * x", SWISH]):
            record = CandidateRecord(index, text, f"mark{index}", same, "include", None, 0,
                                     None, True, "ok")
            search.records.append(record)
            if index == 0:
                search.pool.index(record)
        with pytest.raises(UserError, match="collides with that of #0 'tanh"):
            search.pool.index(record)
    finally:
        search.db.close()


@pytest.mark.parametrize("setting, word", [
    ("search.keep=2", "search.keep"),
    ("search.rungs=[{epoch: 1}]", "search.rungs.epoch"),
    ("search.space.unary=[tanhh]", "did you mean tanh"),
    ("search.algorithm=grid", "search.algorithm"),
    ("search.include=['x +']", "not a valid expression"),
    ("search.confirm.baselines=[relu, nope]", "nope"),
    ("search.allow_test_selection=maybe", "search.allow_test_selection"),
    ("search.fidelity.retest_top=-1", "search.fidelity.retest_top must be 0 or more"),
    ("search.confirm.probes=-2", "search.confirm.probes must be 0 or more"),
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


@pytest.mark.parametrize("name", ["search-fashion", "search-article"])
def test_shipped_search_configs_pass_every_check_before_training(name):
    cfg = load_config(resolve_config(name))
    assert check_search(cfg).binary
    assert cfg.data.validation == "split"  # the confirm run's test set stays unseen
    assert all(r.data.get("validation", "split") == "split" for r in cfg.search.rungs)


def test_the_batch_engine_is_the_default_and_agrees_with_the_folder_path(tmp_path):
    """Where the batch engine applies, a search uses it without a flag and writes no rung
    folders, and its rung-0 scores are those of the folder path (each candidate trained as
    `actsearch run` trains it), also with two seeds per rung: the folder path trains each
    seed as a results-folder trial and scores their mean, as the engine does."""
    texts = [SWISH, SWISH_BETA, "tanh(x) * x"]
    boards, logs = [], []
    for path in (None, "folder"):
        out = tmp_path / str(path)
        raw = search_config(out, include=texts, candidates=3, batch=3, confirm={"top": 0},
                            rungs=[{"epochs": 1, "limit_train": 128, "seeds": 2}])
        lines: list[str] = []
        run_search(make_config(raw), log=lines.append, trainer=path)
        boards.append(_board(out).set_index("expression").sort_index())
        logs.append(lines)
        assert (out / "search" / "rung0").exists() == (path == "folder")
    assert "search: each batch trains in the batch engine" in "\n".join(logs[0])
    folder_histories = tmp_path / "folder" / "search" / "rung0" / "histories"
    assert len(list(folder_histories.glob("*-seed0.csv"))) == 3
    assert len(list(folder_histories.glob("*-seed1.csv"))) == 3
    engine, folder = boards
    assert list(engine.index) == list(folder.index)
    for column in ("val_loss_rung0", f"{OBJECTIVE}_rung0"):
        assert engine[column].to_numpy() == pytest.approx(folder[column].to_numpy(), abs=1e-5)


@pytest.mark.slow
def test_the_default_search_config_downloads_its_data_on_a_fresh_machine(
        tmp_path, http_server, monkeypatch, capsys):
    """actsearch.search() with its default config (search-fashion, no local path) fetches
    Fashion-MNIST through Keras' cache from data.origin, here a local HTTP server serving real
    digits under Fashion-MNIST's file names; only the budget is cut down."""
    import keras.src.backend.config as keras_config

    www, origin = http_server
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (www / name).write_bytes((FIXTURE / name).read_bytes())
    home = tmp_path / "keras-home"
    home.mkdir()
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(home))
    assert load_config(resolve_config("search-fashion")).data.path is None
    outcome = actsearch.search(overrides={
        "data.origin": origin, "data.limit_test": 100, "search.candidates": 2,
        "search.batch": 2, "search.include": [],
        "search.rungs": [{"epochs": 1, "limit_train": 200}],
        "search.confirm": {"top": 0, "probes": 0, "probe_top": 0},
        "model.architecture": "mlp", "model.depth": 1, "model.width": 8},
        out=tmp_path / "out", quiet=True)
    assert list((home / "datasets" / "fashion-mnist").glob("*.gz"))  # downloaded, cached
    board = pd.read_csv(tmp_path / "out" / "search" / "leaderboard.csv")
    assert len(board) >= 2 and outcome.verdict
