import math

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config, write_config
from scipy import stats

from actsearch.cli import main
from actsearch.statistics import compare_to_best, describe


def test_describe_gives_mean_std_and_a_t_interval():
    values = np.array([0.97, 0.98, 0.99, 0.985, 0.975])
    d = describe(values)
    assert d["mean"] == pytest.approx(0.98)
    assert d["std"] == pytest.approx(np.std(values, ddof=1))
    half = stats.t.ppf(0.975, 4) * d["std"] / math.sqrt(5)
    assert (d["ci95_low"], d["ci95_high"]) == pytest.approx((0.98 - half, 0.98 + half))
    assert math.isnan(describe(np.array([0.5]))["std"])


def frame(groups):
    return pd.DataFrame([{"activation": a, "status": "ok", "score": v}
                         for a, vals in groups.items() for v in vals])


def test_clear_difference_is_significant_and_noise_is_not():
    rng = np.random.default_rng(0)
    groups = {"gelu": 0.99 + rng.normal(0, 0.001, 5), "relu": 0.98 + rng.normal(0, 0.001, 5),
              "elu": 0.99 + rng.normal(0, 0.01, 5)}
    result = {c.activation: c for c in compare_to_best(frame(groups), "score")}
    assert result["relu"].best == "gelu" or result["relu"].best == "elu"
    assert result["relu"].significant and result["relu"].difference > 0.005
    noisy = [c for c in result.values() if c.activation in ("gelu", "elu")]
    assert len(noisy) == 1 and not noisy[0].significant
    assert "not significant at 5 seeds" in noisy[0].sentence()
    expected = stats.ttest_ind(groups[result["relu"].best], groups["relu"], equal_var=False)
    assert result["relu"].p_value == pytest.approx(expected.pvalue)


def test_seeds_split_validation_restore_best_and_statistics_end_to_end(tmp_path):
    out = tmp_path / "out"
    cfg = tiny_config(out, data={"validation": "split", "validation_split": 0.25,
                                 "limit_train": 400},
                      model={"activations": ["relu", "sigmoid"]},
                      training={"epochs": 3, "seeds": [0, 1], "restore_best": True,
                                "loss": "categorical_crossentropy"},
                      output={"save_models": True})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0
    ranking = pd.read_csv(out / "statistics.csv")
    assert list(ranking["rank"]) == [1, 2] and ranking["seeds"].eq(2).all()
    for col in ("test_categorical_accuracy_mean", "test_categorical_accuracy_ci95_low",
                "test_loss_std", "p_value_vs_best", "cohens_d_vs_best"):
        assert col in ranking
    md = (out / "summary.md").read_text()
    assert "## How sure is the ranking?" in md and "mean ± std" in md
    # the test metrics come from the best-validation weights: re-evaluating the saved model
    # on the held-out split reproduces the best val_loss of the history
    import keras

    from actsearch.config import load_config
    from actsearch.data import load_dataset

    data = load_dataset(load_config(out / "config.yaml").data)
    hist = pd.read_csv(out / "histories" / "relu-seed1.csv")
    model = keras.models.load_model(out / "models" / "relu-seed1.keras")
    val = model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)
    assert val["loss"] == pytest.approx(hist["val_loss"].min(), rel=1e-4)
    assert len(data.x_val) + len(data.x_train) == 400 and abs(len(data.x_val) - 100) <= 5
