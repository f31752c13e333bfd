"""Diagnostics on networks whose answers are known, shapes and derivatives against closed
forms, user activations, and the diagnostics of a real tiny sweep."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, tiny_config, write_config

from actsearch.activations import ActivationOptions, get_spec
from actsearch.cli import main
from actsearch.diagnostics import ClipRule, Probe
from actsearch.models import build_article_cnn
from actsearch.reporting.activation_plots import evaluate

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
NO_CLIP = ClipRule()
POINTS = np.array([-2.5, -1.0, -0.3, 0.4, 1.0, 2.2])


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


CLOSED_FORM_DERIVATIVES = {
    "sigmoid": lambda x: _sigmoid(x) * (1 - _sigmoid(x)),
    "tanh": lambda x: 1 - np.tanh(x) ** 2,
    "relu": lambda x: (x > 0).astype(float),
    "leaky-relu": lambda x: np.where(x > 0, 1.0, 0.2),
    "elu": lambda x: np.where(x > 0, 1.0, np.exp(x)),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(x)),
    "gelu-tanh": lambda x: _gelu_tanh_derivative(x),
}


def _gelu_tanh_derivative(x):
    c = math.sqrt(2 / math.pi)
    u = c * (x + 0.044715 * x**3)
    return 0.5 * (1 + np.tanh(u)) + 0.5 * x * (1 - np.tanh(u) ** 2) * c * (1 + 3 * 0.044715 * x**2)


@pytest.mark.parametrize("name", sorted(CLOSED_FORM_DERIVATIVES))
def test_autodiff_derivatives_match_closed_forms(name):
    _, derivative = evaluate(name, POINTS)
    np.testing.assert_allclose(derivative, CLOSED_FORM_DERIVATIVES[name](POINTS), rtol=1e-4,
                               atol=1e-6)


def _dense_probe(kernel_value, bias_value, clip=NO_CLIP, activation="relu"):
    """Input(4) -> Dense(3) -> activation -> Dense(1) 'output', constant weights."""
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="dense", kernel_initializer=keras.initializers.Constant(
        kernel_value), bias_initializer=keras.initializers.Constant(bias_value))(inputs)
    hidden = get_spec(activation).make_layer(ActivationOptions(), "dense_act")(hidden)
    out = keras.layers.Dense(1, name="output", kernel_initializer="ones",
                             bias_initializer="zeros")(hidden)
    model = keras.Model(inputs, out)
    x = np.ones((8, 4), dtype="float32")
    y = np.zeros((8, 1), dtype="float32")
    return Probe(model, x, y, keras.losses.mean_squared_error, clip)


def test_a_layer_forced_dead_reads_fully_dead_and_passes_no_gradient():
    rows = {r["layer"]: r for r in _dense_probe(1.0, -100.0).measure(0)}
    assert rows["dense"]["dead_fraction"] == 1.0
    assert rows["dense"]["inactive_fraction"] == 1.0
    assert rows["dense"]["grad_norm"] == 0.0
    assert rows["dense"]["act_mean"] == 0.0 and rows["dense"]["act_std"] == 0.0


def test_unit_weights_give_the_expected_gradient_norm_and_statistics():
    # x = 1 (4 inputs), unit kernels, zero bias: hidden = relu(4) = 4 in each of 3 units,
    # prediction 12, target 0, MSE gradient dL/dpred = 2 * 12 = 24.
    # d/d(output kernel) = 24 * hidden = 96 per entry -> norm 96 * sqrt(3);
    # d/d(dense kernel) = 24 * 1 (output weight) * 1 (relu') * x = 24 per entry -> 24 * sqrt(12).
    rows = {r["layer"]: r for r in _dense_probe(1.0, 0.0).measure(3)}
    assert rows["output"]["epoch"] == 3
    assert rows["output"]["grad_norm"] == pytest.approx(96 * math.sqrt(3), rel=1e-6)
    assert rows["dense"]["grad_norm"] == pytest.approx(24 * math.sqrt(12), rel=1e-6)
    assert rows["dense"]["dead_fraction"] == 0.0
    assert rows["dense"]["act_mean"] == pytest.approx(4.0)
    assert rows["dense"]["act_std"] == pytest.approx(0.0)


def test_leaky_units_with_negative_inputs_are_inactive_but_not_dead():
    rows = {r["layer"]: r for r in _dense_probe(1.0, -100.0, activation="leaky-relu").measure(0)}
    assert rows["dense"]["dead_fraction"] == 0.0
    assert rows["dense"]["inactive_fraction"] == 1.0
    assert rows["dense"]["grad_norm"] > 0.0


@pytest.mark.parametrize("clip, dense, output", [
    (ClipRule(clipvalue=100.0), 0.0, 0.0),
    (ClipRule(clipvalue=30.0), 0.0, 1.0),
    (ClipRule(clipvalue=20.0), 1.0, 1.0),
    (ClipRule(clipnorm=100.0), 0.0, 1.0),
    (ClipRule(global_clipnorm=150.0), 1.0, 1.0),
    (ClipRule(global_clipnorm=200.0), 0.0, 0.0),
])
def test_clipped_fraction_follows_the_clip_rule(clip, dense, output):
    # Gradient entries: dense kernel 24 (norm 83.1), output kernel 96 (norm 166.3);
    # the global norm is 185.9.
    rows = {r["layer"]: r for r in _dense_probe(1.0, 0.0, clip).measure(0)}
    assert (rows["dense"]["clipped_fraction"], rows["output"]["clipped_fraction"]) == (
        dense, output)


def test_no_clipping_reads_nan():
    rows = _dense_probe(1.0, 0.0).measure(0)
    assert all(math.isnan(r["clipped_fraction"]) for r in rows)


def test_prelu_learns_one_slope_per_channel():
    model = build_article_cnn("prelu")
    assert model.count_params() == 1_199_882 + 32 + 64 + 128


@pytest.mark.slow
def test_user_activation_trains_saves_and_reloads_with_plain_load_model(tmp_path, monkeypatch,
                                                                         capsys):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    out = tmp_path / "out"
    cfg = tiny_config(out, model={"activations": ["user_activations:squareplus"]},
                      output={"save_models": True}, diagnostics={"enabled": False})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0, \
        capsys.readouterr().err[-2000:]
    model_file = out / "models" / "user_activations-squareplus-seed0.keras"
    assert model_file.is_file()
    script = textwrap.dedent(f"""
        import numpy as np, keras, actsearch
        m = keras.models.load_model({str(model_file)!r})
        x = np.linspace(-3, 3, 784, dtype="float32").reshape(1, 28, 28, 1)
        print(float(m.get_layer("conv1_act")(np.array([[-3.0, 0.0, 3.0]]))[0, 1]))
    """)
    reload = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT / "tests")}, timeout=120)
    assert reload.returncode == 0, reload.stderr[-2000:]
    assert float(reload.stdout.strip().splitlines()[-1]) == pytest.approx(1.0)  # squareplus(0)


@pytest.mark.parametrize("name, message", [
    ("no_such_module_xyz:f", "cannot import no_such_module_xyz"),
    ("user_activations:missing", "has no attribute 'missing'"),
    ("user_activations:NOT_CALLABLE", "not callable"),
])
def test_user_activation_errors_are_one_line(name, message, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    config = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "out",
                                                           model={"activations": [name]}))
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("actsearch: error: activation")
    assert message in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sweep_writes_diagnostics_tables_and_figures(tmp_path, capsys):
    out = tmp_path / "out"
    cfg = tiny_config(out, data={"limit_train": 128, "limit_test": 64},
                      model={"activations": ["sigmoid", "relu"]},
                      training={"epochs": 2}, diagnostics={"enabled": True, "probe_size": 64})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0, \
        capsys.readouterr().err[-2000:]
    diag = pd.read_csv(out / "diagnostics" / "sigmoid-seed0.csv")
    assert sorted(diag["epoch"].unique()) == [0, 1, 2]
    assert list(diag[diag["epoch"] == 0]["layer"]) == ["conv1", "conv2", "dense", "output"]
    start = diag[diag["epoch"] == 0].set_index("layer")["grad_norm"]
    assert start["conv1"] < start["output"] / 20  # sigmoid: the first layer's gradient vanishes
    assert len(pd.read_csv(out / "diagnostics.csv")) == 2 * 3 * 4
    summary = (out / "summary.md").read_text()
    assert "## Inside the networks" in summary and "grad conv1/output start" in summary
    for name in ("diagnostics_gradients.png", "diagnostics_layers.png"):
        assert (out / "plots" / name).stat().st_size > 10_000


@pytest.mark.slow
def test_activations_command_draws_every_registered_activation(tmp_path, capsys):
    assert main(["activations", "--out", str(tmp_path), "relu", "gelu", "prelu"]) == 0
    for name in ("activations.png", "derivatives.png", "activations_grid.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    capsys.readouterr()
    assert main(["activations", "--out", str(tmp_path / "bad"), "relu", "gelux"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("actsearch: error: unknown activation")
    assert "did you mean gelu" in err and not (tmp_path / "bad").exists()


def test_diagnostics_plots_take_a_sweep_over_a_text_key(tmp_path):
    """A sweep over training.shuffle adds a text column to diagnostics.csv (as the committed
    mnist-cpu-shuffle run did); the seed means are of the measurements only."""
    from actsearch.reporting.diagnostic_plots import plot_diagnostics, seed_means

    rows = [{"trial": f"relu-shuffle{mode}-seed{seed}", "activation": "relu",
             "training.shuffle": mode, "seed": seed, "epoch": epoch, "layer": layer,
             "grad_norm": 0.1 * (seed + 1), "clipped_fraction": 0.0, "dead_fraction": 0.0,
             "inactive_fraction": 0.0, "act_mean": 0.5, "act_std": 1.0}
            for mode in ("once",) for seed in (0, 1) for epoch in (0, 1)
            for layer in ("dense1", "output")]
    diag = pd.DataFrame(rows)
    means = seed_means(diag)
    assert len(means) == 4 and np.allclose(means["grad_norm"], 0.15)
    assert "training.shuffle" not in means
    written = plot_diagnostics(diag, tmp_path, tag="-shuffleonce", label="shuffle=once")
    assert written and all(p.stat().st_size > 1000 for p in written)
