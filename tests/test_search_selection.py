"""How a search selects, on a real tiny search: rungs score the validation loss (continuous)
by default, the leaderboard shows loss and accuracy per rung, no tie is broken by proposal
order, every rung validates on the same held-out images that no rung trains on, a rung with
several seeds scores their mean, evolution keeps a whole batch for the next batch's
tournaments, and the fidelity measurement scores as the rungs do."""

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config

from actsearch.config import config_from_dict
from actsearch.expressions import fingerprint, parse
from actsearch.search import run_search
from actsearch.search.engine import train_candidates
from actsearch.search.fidelity import draws, retest_seeds
from actsearch.search.loop import search_config as make_config
from actsearch.search.promotion import RungBoard, rank_key, tie_key
from actsearch.search.rungs import all_rung_seeds, confirm_seeds, rung_config
from actsearch.search.state import CandidateRecord, RungResult, SearchDB
from actsearch.search.validation import RungData

LOSS, ACCURACY = "val_loss", "val_categorical_accuracy"


def selection_config(out, **search) -> dict:
    """8 candidates from aging evolution in batches of 4 (population 2, so a batch is twice
    the population), rung 0 with 2 seeds on 128 images, rung 1 on 256 (more than the 256
    data.limit_train leaves after holding out validation images), no confirm run nor confirm
    probes, the defaults otherwise: rung_metric loss, validation_images 2000, the fidelity
    measurement's retests and probes."""
    values = {"algorithm": "evolution", "seed": 2, "population_size": 2, "sample_size": 2,
              "candidates": 8, "batch": 4, "keep": 0.5,
              "rungs": [{"epochs": 1, "limit_train": 128, "seeds": 2},
                        {"epochs": 1, "limit_train": 256}],
              "confirm": {"top": 0, "probes": 0, "probe_top": 0},
              "space": {"unary": ["x", "neg", "abs", "relu", "sigmoid", "tanh", "sin",
                                  "softplus", "scale", "shift"],
                        "binary": ["add", "mul", "max", "sigmoid_mul"]}}
    values.update(search)
    return tiny_config(out, search=values, execution={"executor": "local"},
                       data={"validation": "split", "validation_split": 0.25},
                       model={"architecture": "mlp", "depth": 1, "width": 16})


@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    out = tmp_path_factory.mktemp("selection") / "out"
    lines: list[str] = []
    outcome = run_search(make_config(selection_config(out)), log=lines.append)
    db = SearchDB(out / "search" / "search.db")
    try:
        records, meta = db.candidates(), db.meta()
        histories = {r.index: db.history(r.index, 0) for r in records if r.trainable}
    finally:
        db.close()
    return out, outcome, lines, records, meta, histories


def _board(out) -> pd.DataFrame:
    return pd.read_csv(out / "search" / "leaderboard.csv")


def test_rungs_score_the_validation_loss_and_the_board_shows_loss_and_accuracy(selected):
    out, _, _, records, _, _ = selected
    board = _board(out)
    for k in (0, 1):
        assert {f"{LOSS}_rung{k}", f"{ACCURACY}_rung{k}"} <= set(board.columns)
    scored = board[board["rank"].notna()]
    assert len(scored) == 8 and scored[f"{ACCURACY}_rung0"].between(0, 1).all()
    assert scored["score"].to_numpy() == pytest.approx(-scored[f"{LOSS}_rung0"].to_numpy())
    # best first: the highest rung, then the lowest loss there
    for rung, group in scored.groupby("rung_reached", sort=False):
        losses = group[f"{LOSS}_rung{rung - 1}"].to_numpy()
        assert list(losses) == sorted(losses)
    assert list(scored["rung_reached"]) == sorted(scored["rung_reached"], reverse=True)
    by_index = {r.index: r for r in records}
    for _, row in scored.iterrows():  # the database keeps the score beside both values
        first = by_index[int(row["index"])].result(0)
        assert first.objective == pytest.approx(first.loss) == pytest.approx(
            row[f"{LOSS}_rung0"])


def test_a_rung_with_two_seeds_scores_their_mean(selected, tmp_path):
    """Rung 0 trains every candidate with seeds 0 and 1: its score is the mean of the two
    runs' last validation losses, each as the engine trains it alone with that seed."""
    out, _, _, records, _, histories = selected
    cfg = make_config(selection_config(out))
    rung0 = rung_config(cfg, 0, ["relu"])
    assert rung0.training.seeds == [0, 1]
    data = RungData(cfg, lambda line: None)(rung0.data)
    record = next(r for r in records if r.trainable)
    runs = [train_candidates([parse(record.text)], rung0, data, seed, log=lambda m: None)[0]
            for seed in (0, 1)]
    losses = [run.history["val_loss"].iloc[-1] for run in runs]
    assert losses[0] != losses[1]
    assert record.result(0).loss == pytest.approx(np.mean(losses), rel=1e-4)
    assert histories[record.index]["val_loss"].iloc[-1] == pytest.approx(np.mean(losses),
                                                                         rel=1e-4)


def test_a_retest_trains_other_seeds_than_the_search_and_scores_as_its_rung(selected):
    """Rung 0 trains seeds 0 and 1, the confirm run others: a rung-0 retest trains two seeds
    none of them uses, on the rungs' held-out images, and its score is the mean of their
    validation losses (the rung's score); the pairs compare losses with losses."""
    out, _, _, records, _, _ = selected
    cfg = make_config(selection_config(out))
    seeds = retest_seeds(cfg, 0)
    assert len(seeds) == 2
    assert not set(seeds) & (all_rung_seeds(cfg) | set(confirm_seeds(cfg)[0]))
    db = SearchDB(out / "search" / "search.db")
    try:
        runs = db.fidelity_runs()
    finally:
        db.close()
    record = next(r for r in records if r.trainable)
    retest = runs[("retest", 0, record.index)]
    rung0 = rung_config(cfg, 0, ["relu"])
    data = RungData(cfg, lambda line: None)(rung0.data)
    losses = [train_candidates([parse(record.text)], rung0, data, seed, log=lambda m: None)[0]
              .history["val_loss"].iloc[-1] for seed in seeds]
    assert retest.objective == pytest.approx(np.mean(losses), rel=1e-4)
    assert retest.objective != pytest.approx(record.result(0).loss, rel=1e-6)
    pairs = pd.read_csv(out / "search" / "fidelity_pairs.csv")
    row = pairs[(pairs["kind"] == "retest") & (pairs["rung"] == 0)
                & (pairs["index"] == record.index)].iloc[0]
    assert (row["score_a"], row["score_b"]) == pytest.approx((record.result(0).loss,
                                                              retest.objective))
    # a rung's best, retested and probed, are its lowest losses
    two = make_config(selection_config(out, fidelity={"retest_top": 2}))
    top = next(d.top for d in draws(two, records) if d.kind == "retest" and d.rung == 0)
    lowest = sorted((r for r in records if r.trainable), key=lambda r: r.result(0).loss)[:2]
    assert sorted(top) == sorted(r.index for r in lowest)


def test_every_rung_validates_on_the_same_held_out_images_none_trains_on(selected):
    out, _, lines, _, _, _ = selected
    cfg = make_config(selection_config(out))
    said = [line for line in lines if "held out" in line]
    assert said == ["search: mnist has 256 training images: the rungs validate on 64 held out "
                    "(search.validation_images 2000) and train on at most 192"]
    data = RungData(cfg, lambda line: None)
    rungs = [data(rung_config(cfg, k, ["relu"]).data) for k in (0, 1)]
    assert [len(d.x_train) for d in rungs] == [128, 192] and len(rungs[0].x_val) == 64
    np.testing.assert_array_equal(rungs[0].x_val, rungs[1].x_val)
    validation = {image.tobytes() for image in rungs[0].x_val}
    for rung in rungs:
        assert not validation & {image.tobytes() for image in rung.x_train}
    summary = (out / "search" / "summary.md").read_text()
    assert "rung 0 validates on 64 held-out images (2 seeds)" in summary
    assert "never by proposal order" in summary


def test_evolution_keeps_a_whole_batch_for_the_next_batchs_tournaments(selected):
    """Batches of 4 with a population of 2: the first batch's 4 results all stayed in the
    population through the second batch's proposals, and the last batch's 4 are all kept for
    the next (ageing at each report would have kept 2)."""
    out, _, _, records, meta, _ = selected
    state = meta["evolution"]
    texts = [entry["text"] for entry in state["population"]]
    trained = [r for r in records if r.trainable]
    assert sorted(texts) == sorted(r.text for r in trained) and len(texts) == 8
    assert state["fresh"] == 4
    assert {r.batch for r in trained} == {0, 1}
    scores = {entry["text"]: entry["score"] for entry in state["population"]}
    for record in trained:
        assert scores[record.text] == pytest.approx(-record.result(0).loss)


def _record(index: int, text: str, loss: float, accuracy: float) -> CandidateRecord:
    record = CandidateRecord(index, text, fingerprint(parse(text)), None, "include", None, 0,
                             None, True, "ok")
    record.rungs.append(RungResult(0, "ok", 1, loss, None, loss, accuracy))
    return record


@pytest.mark.parametrize("rung_metric", ["loss", "metric"])
def test_no_tie_is_broken_by_proposal_order(rung_metric):
    """Equal scores go by the other validation score, then by a hash of the function: the
    same order whichever was proposed first."""
    cfg = config_from_dict({"search": {"rung_metric": rung_metric}})
    texts = ["tanh(x) * x", "x * sigmoid(x)", "relu(x) + tanh(x)", "softplus(x) - 1"]
    if rung_metric == "loss":  # equal losses; accuracies differ for the first two
        values = [(0.5, 0.8), (0.5, 0.9), (0.5, 0.7), (0.5, 0.7)]
    else:  # equal accuracies; losses differ for the first two
        values = [(0.4, 0.9), (0.3, 0.9), (0.6, 0.9), (0.6, 0.9)]
    orders = []
    for order in (texts, texts[::-1]):
        records = [_record(i, t, *values[texts.index(t)]) for i, t in enumerate(order)]
        if rung_metric == "metric":
            for r in records:
                r.rungs[0].objective = r.rungs[0].metric
        board = RungBoard(keep=0.5)
        for r in records:
            score = -r.rungs[0].objective if rung_metric == "loss" else r.rungs[0].objective
            board.add(r.index, score, tie_key(r.rungs[0], cfg, r.fingerprint))
        promoted = [records[i].text for i in board.promotable()]
        ranked = [r.text for r in sorted(records, key=lambda r: rank_key(r, cfg), reverse=True)]
        assert promoted == ranked[:2]
        orders.append(ranked)
    assert orders[0] == orders[1]
    assert orders[0][0] == "x * sigmoid(x)"  # the better other score wins the tie
    assert orders[0][1] == "tanh(x) * x"
