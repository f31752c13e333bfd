"""The batched candidate engine trains each candidate as `actsearch run` trains its expression
(same seed, same batch order), K at a time in one program, and a new batch of genomes of the
same shape retraces nothing. The mlp has no dropout; the CNN's masks are a separate run's."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config, write_config

from actsearch.cli import main
from actsearch.config import config_from_dict
from actsearch.data import load_dataset
from actsearch.errors import UserError
from actsearch.expressions import canonical, parse
from actsearch.search import engine
from actsearch.search.space import Candidate, CoreUnit, UnaryChoice

SEED = 3


def _unit(binary, left, right):
    return Candidate((CoreUnit(binary, UnaryChoice(*left), UnaryChoice(*right)),))


OK = [_unit("add", ("tanh",), ("relu",)),
      _unit("sigmoid_mul", ("scale", "beta"), ("x",)),  # x * sigmoid(beta * x): learnable
      _unit("div", ("sin",), ("shift", 1.5))]
BLOWUP = _unit("mul", ("cube",), ("cube",))  # x**6 through 3 layers: inf, then a NaN loss
NOT_A_GENOME = canonical(parse("x * tanh(softplus(x))"))  # trained by its own ExpressionActivation


def _cfg(out, **training):
    """A fast learning rate, so a learnable beta moves far enough to show in the losses."""
    return tiny_config(out, model={"architecture": "mlp", "depth": 3, "width": 16},
                       data={"validation": "split", "limit_train": 320},
                       training={"epochs": 2, "batch_size": 32, "seeds": [SEED],
                                 "optimizer": {"learning_rate": 0.02}, **training})


def _run_histories(tmp_path, texts):
    """What `actsearch run` (local executor) writes for these expressions."""
    raw = _cfg(tmp_path / "run")
    raw["model"]["activations"] = texts
    assert main(["run", str(write_config(tmp_path / "run.yaml", raw)), "--quiet"]) == 0
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    out = {}
    for _, row in summary.iterrows():
        history = pd.read_csv(tmp_path / "run" / "histories" / f"{row['trial']}.csv")
        out[row["activation"]] = (row["status"], history)
    return out


@pytest.mark.slow
def test_engine_histories_match_actsearch_run_and_the_diverged_one_is_marked(tmp_path):
    texts = [c.text for c in OK] + [BLOWUP.text, NOT_A_GENOME]
    expected = _run_histories(tmp_path, texts)
    cfg = config_from_dict(_cfg(tmp_path / "engine"))
    data = load_dataset(cfg.data)
    # trees (looked up as genomes), one Candidate as it is, one expression outside the space
    given = [OK[0].tree, OK[1], OK[2].tree, BLOWUP.tree, parse(NOT_A_GENOME)]
    fixed = _unit("sigmoid_mul", ("scale", 1.0), ("x",))  # beta's start, never trained
    *runs, fixed_run = engine.train_candidates([*given, fixed], cfg, data, SEED,
                                               log=lambda _: None)
    assert len(runs) == len(texts)
    # beta was trained: its history leaves the one of the same function with beta fixed by
    # more than the tolerance below, so the match with `actsearch run` shows beta trained
    gap = np.abs(runs[1].history["loss"] - fixed_run.history["loss"]).max()
    assert gap > 2e-4, gap
    blown = runs[3]
    assert expected[BLOWUP.text][0] == "diverged"
    assert blown.status == "diverged" and blown.diverged_epoch == 1
    assert not math.isfinite(blown.history["loss"].iloc[-1])
    for text, run in zip(texts, runs, strict=True):
        if text == BLOWUP.text:
            continue
        status, history = expected[text]
        assert status == "ok" and run.status == "ok", text
        assert list(run.history["epoch"]) == [1, 2]
        columns = [c for c in history.columns if c != "seconds"]
        assert set(columns) <= set(run.history.columns), text
        np.testing.assert_allclose(run.history[columns].to_numpy(float),
                                   history[columns].to_numpy(float), rtol=2e-4, atol=2e-5,
                                   err_msg=text)


@pytest.mark.slow
def test_a_second_batch_of_the_same_shape_retraces_nothing(tmp_path):
    cfg = config_from_dict(_cfg(tmp_path, epochs=1))
    data = load_dataset(cfg.data)
    first = engine.train_candidates([c.tree for c in OK], cfg, data, SEED, log=lambda _: None)
    traces = dict(engine.TRACES), engine._genome_function.experimental_get_tracing_count()
    others = [_unit("max", ("sin",), ("x",)), _unit("mul", ("erf",), ("scale", 2.0)),
              _unit("sub", ("softplus",), ("const", 0.5))]
    programs = engine.programs_compiled()
    # the search's rung config names each batch's candidates as its activations
    rung = dataclasses.replace(cfg, model=dataclasses.replace(
        cfg.model, activations=[canonical(c.tree) for c in others]))
    second = engine.train_candidates(others, rung, data, SEED, log=lambda _: None)
    assert (dict(engine.TRACES), engine._genome_function.experimental_get_tracing_count()) \
        == traces
    assert engine.programs_compiled() == programs
    assert traces[0]["epoch"] >= 1
    # the program really took the new functions: different candidates, different losses
    assert all(r.status == "ok" for r in first + second)
    assert len({round(r.history["loss"].iloc[0], 6) for r in first + second}) == 6


def test_unsupported_settings_are_named_in_one_line(tmp_path):
    cfg = config_from_dict(_cfg(tmp_path, shuffle="once"))
    reason = engine.engine_unsupported(cfg)
    assert reason is not None and "shuffle" in reason and "\n" not in reason
    assert engine.engine_unsupported(config_from_dict(_cfg(tmp_path))) is None
    with pytest.raises(UserError, match="shuffle"):
        engine.train_candidates([OK[0].tree], cfg, load_dataset(cfg.data), SEED)


def _genome_values(candidate, x, beta):
    """The candidate's function and its derivative at x, computed from its genome as data."""
    import tensorflow as tf

    genome = engine.genome_of(candidate)
    x = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = engine._genome_function(x, tf.constant(genome.ops), tf.constant(genome.values),
                                    tf.constant(genome.betas), tf.constant(beta))
    return y.numpy(), tape.gradient(y, x).numpy()


def _tree_values(candidate, x, beta):
    import tensorflow as tf

    from actsearch.expressions import evaluate_keras

    x = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = evaluate_keras(candidate.tree, x, {"beta": tf.constant(beta)})
    return y.numpy(), tape.gradient(y, x).numpy()


def test_every_primitive_as_data_computes_what_its_expression_computes():
    """Each unary primitive (with a constant, with beta), each binary one, and two chained
    units: the genome read by switch_case gives the values and slopes of the candidate's
    tree evaluated as its ExpressionActivation evaluates it."""
    from actsearch.search.space import BINARY, UNARY

    x = np.linspace(-4.0, 4.0, 41, dtype=np.float32).reshape(1, -1)
    candidates = []
    for name, (_, takes) in UNARY.items():
        for c in ((1.5, "beta") if takes else (None,)):
            candidates.append(_unit("add", (name, c), ("tanh",)))
    candidates += [_unit(b, ("sin",), ("shift", 0.5)) for b in BINARY]
    candidates.append(Candidate((CoreUnit("mul", UnaryChoice("x"), UnaryChoice("sigmoid")),
                                 CoreUnit("sub", UnaryChoice("scale", "beta"),
                                          UnaryChoice("atan")))))
    for candidate in candidates:
        got, want = _genome_values(candidate, x, 1.3), _tree_values(candidate, x, 1.3)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6, err_msg=candidate.text)


def test_a_reused_program_restarts_dropout_as_a_fresh_one(tmp_path):
    """The article's CNN has dropout, whose seed state get_weights() leaves out: the same
    candidates trained twice through one cached program (a later batch of a search) get the
    same histories, those of their first training."""
    raw = _cfg(tmp_path, epochs=1)
    raw["model"] = {"architecture": "article_cnn", "activations": ["relu"]}
    cfg = config_from_dict(raw)
    data = load_dataset(cfg.data)
    trees = [OK[0].tree]
    programs = engine.programs_compiled()
    first = engine.train_candidates(trees, cfg, data, SEED, log=lambda _: None)
    again = engine.train_candidates(trees, cfg, data, SEED, log=lambda _: None)
    assert engine.programs_compiled() == programs + 1  # one program, used twice
    for a, b in zip(first, again, strict=True):
        assert a.status == b.status == "ok"
        assert b.history["loss"].to_numpy() == pytest.approx(a.history["loss"].to_numpy(),
                                                             rel=1e-6)
