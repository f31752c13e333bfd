import math

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config, write_config
from scipy import stats

from actsearch.cli import main
from actsearch.reporting.report import comparison_sentence
from actsearch.statistics import (
    ALPHA,
    COHENS_D,
    D_Z,
    PAIRED,
    WELCH,
    best_group,
    compare_to_best,
    describe,
    holm,
    ranking_verdict,
)


def test_describe_gives_mean_std_and_a_t_interval():
    values = np.array([0.97, 0.98, 0.99, 0.985, 0.975])
    d = describe(values)
    assert d["mean"] == pytest.approx(0.98)
    assert d["std"] == pytest.approx(np.std(values, ddof=1))
    half = stats.t.ppf(0.975, 4) * d["std"] / math.sqrt(5)
    assert (d["ci95_low"], d["ci95_high"]) == pytest.approx((0.98 - half, 0.98 + half))
    assert math.isnan(describe(np.array([0.5]))["std"])


def frame(groups, seeds=None):
    """Synthetic trials: one "ok" row per value; seeds 0..n-1 unless given per activation."""
    rows = []
    for activation, values in groups.items():
        ids = (seeds or {}).get(activation, range(len(values)))
        rows += [{"activation": activation, "status": "ok", "seed": s, "score": v}
                 for s, v in zip(ids, values, strict=True)]
    return pd.DataFrame(rows)


def unpaired(groups):
    return frame(groups).drop(columns="seed")


def by_name(comparisons):
    return {c.activation: c for c in comparisons}


def test_clear_difference_is_significant_and_noise_is_not():
    rng = np.random.default_rng(0)
    groups = {"gelu": 0.99 + rng.normal(0, 0.001, 5), "relu": 0.98 + rng.normal(0, 0.001, 5),
              "elu": 0.99 + rng.normal(0, 0.01, 5)}
    result = by_name(compare_to_best(unpaired(groups), "score"))  # no seed column: Welch
    assert result["relu"].best == "gelu" or result["relu"].best == "elu"
    assert result["relu"].significant and result["relu"].difference > 0.005
    noisy = [c for c in result.values() if c.activation in ("gelu", "elu")]
    assert len(noisy) == 1 and not noisy[0].significant
    assert "not significant at 5 seeds" in comparison_sentence(noisy[0])
    assert "Welch's t-test over 5 and 5 seeds" in comparison_sentence(noisy[0])
    expected = stats.ttest_ind(groups[result["relu"].best], groups["relu"], equal_var=False)
    assert result["relu"].test == WELCH and result["relu"].effect == COHENS_D
    assert result["relu"].p_value == pytest.approx(expected.pvalue)
    assert result["relu"].p_adjusted == pytest.approx(min(1.0, 2 * expected.pvalue))


def test_paired_t_test_when_seeds_pair_up():
    # a large seed effect shared by both activations hides a small consistent gap from Welch
    seed_effect = np.array([0.00, 0.02, -0.015, 0.01, -0.02])
    gap = np.array([0.004, 0.006, 0.005, 0.003, 0.007])
    gelu, relu = 0.98 + seed_effect, 0.98 + seed_effect - gap
    result = by_name(compare_to_best(frame({"relu": relu, "gelu": gelu}), "score"))["relu"]
    expected = stats.ttest_rel(gelu, relu)
    assert (result.best, result.test, result.effect) == ("gelu", PAIRED, D_Z)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.p_adjusted == pytest.approx(expected.pvalue)  # m = 1
    assert result.effect_size == pytest.approx(gap.mean() / gap.std(ddof=1))
    assert result.difference == pytest.approx(gap.mean())
    assert (result.n_pairs, result.n_best, result.n_other) == (5, 5, 5)
    assert result.significant
    assert stats.ttest_ind(gelu, relu, equal_var=False).pvalue > 0.5  # Welch would not see it
    # pairing is by seed, not by row order
    shuffled = frame({"relu": relu[::-1], "gelu": gelu}, seeds={"relu": [4, 3, 2, 1, 0]})
    assert by_name(compare_to_best(shuffled, "score"))["relu"].p_value == \
        pytest.approx(expected.pvalue)
    assert "paired t-test over 5 seeds, d_z = " in comparison_sentence(result)
    assert "Holm-adjusted p = " in comparison_sentence(result)


def test_welch_when_seed_sets_differ():
    gelu, relu = np.array([0.99, 0.985, 0.992, 0.988]), np.array([0.98, 0.975, 0.983, 0.97])
    differing = frame({"gelu": gelu, "relu": relu}, seeds={"relu": [0, 1, 2, 5]})
    missing_one = frame({"gelu": gelu, "relu": relu[:3]})  # relu's seed 3 did not finish
    for summary in (differing, missing_one):
        result = compare_to_best(summary, "score")[0]
        other = summary[summary["activation"] == "relu"]["score"].to_numpy()
        assert (result.test, result.effect, result.n_pairs) == (WELCH, COHENS_D, 0)
        assert result.p_value == pytest.approx(
            stats.ttest_ind(gelu, other, equal_var=False).pvalue)
        pooled = np.sqrt((gelu.var(ddof=1) + other.var(ddof=1)) / 2)
        assert result.effect_size == pytest.approx((gelu.mean() - other.mean()) / pooled)
    # non-ok rows do not count: a diverged seed 3 makes the seed sets differ too
    diverged = pd.concat([missing_one, pd.DataFrame([{"activation": "relu", "seed": 3,
                                                      "status": "diverged", "score": 0.1}])])
    assert compare_to_best(diverged, "score")[0].test == WELCH


def test_holm_matches_a_hand_computation_and_is_monotone():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(1*0.04, 0.06): in input order
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    adjusted = holm([0.2, np.nan, 0.01])  # NaN is untestable: m = 2
    assert adjusted[[0, 2]] == pytest.approx([0.2, 0.02]) and np.isnan(adjusted[1])
    assert len(holm([])) == 0
    raw = np.random.default_rng(1).uniform(0, 0.2, 12)
    adj = holm(raw)
    order = np.argsort(raw)
    assert np.all(np.diff(adj[order]) >= 0) and np.all(adj >= raw) and np.all(adj <= 1)


def test_holm_agrees_with_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    raw = np.random.default_rng(2).uniform(0, 0.1, 7)
    assert holm(raw) == pytest.approx(multitest.multipletests(raw, method="holm")[1])


def rivals():
    """The activation "best" and five rivals over seeds 0..5 sharing a seed effect, with fixed
    paired differences: "far" clearly worse (raw p ~ 4e-7), "edge" raw p ~ 0.023 (2nd smallest,
    so Holm multiplies it by 4: 0.09), the "near" ones indistinguishable (raw p > 0.6)."""
    best = 0.98 + np.array([0.0, 0.012, -0.008, 0.005, -0.011, 0.003])
    gaps = {"far": [0.02, 0.021, 0.019, 0.022, 0.018, 0.02],
            "edge": [0.003, 0.0, 0.004, 0.0005, 0.002, 0.0035],
            "near1": [0.001, -0.002, 0.0015, 0.0, -0.001, 0.002],
            "near2": [0.0005, 0.001, -0.0015, 0.002, -0.001, 0.0005],
            "near3": [-0.001, 0.002, 0.0015, -0.002, 0.001, 0.0]}
    return {"best": best, **{name: best - np.array(gap) for name, gap in gaps.items()}}


def test_a_raw_p_below_5_percent_can_be_not_significant_after_holm():
    comparisons = compare_to_best(frame(rivals()), "score")
    assert len(comparisons) == 5
    adjusted = holm([c.p_value for c in comparisons])
    assert [c.p_adjusted for c in comparisons] == pytest.approx(adjusted)
    assert all(c.test == PAIRED for c in comparisons)
    result = by_name(comparisons)
    assert result["far"].significant and result["far"].p_adjusted < 1e-4
    edge = result["edge"]
    assert 0.0125 < edge.p_value < ALPHA  # significant alone, but 4 x p after Holm is not
    assert edge.p_adjusted == pytest.approx(4 * edge.p_value) and not edge.significant
    assert all(c.significant == (c.p_adjusted < ALPHA) for c in comparisons)
    assert "not significant at 6 seeds" in comparison_sentence(edge)


def test_best_group_and_ranking_verdict():
    groups = rivals()
    groups["single"] = np.array([0.5])  # one seed: untestable, cannot be told apart
    summary = frame(groups)
    comparisons = compare_to_best(summary, "score")
    significant = {c.activation for c in comparisons if c.significant}
    assert "far" in significant and "single" not in significant
    group = best_group(comparisons, "best")
    assert group[0] == "best" and set(group) == set(groups) - significant
    verdict = ranking_verdict(summary, "score")
    assert verdict.best == "best" and verdict.untestable == ["single"]
    assert set(verdict.distinguishable) == significant
    assert set(verdict.indistinguishable) == set(groups) - significant - {"best", "single"}
    assert verdict.best_group == group
    assert [c.activation for c in verdict.comparisons] == [c.activation for c in comparisons]
    assert verdict.test == PAIRED  # "single" is untestable and does not count
    single = by_name(comparisons)["single"]
    assert "not testable" in comparison_sentence(single)
    assert single.test == "" and not single.testable
    assert np.isnan(by_name(comparisons)["single"].p_adjusted)
    # lower is better (a loss): the best is the smallest mean, differences stay positive
    loss = ranking_verdict(frame({"a": [0.3, 0.31, 0.29], "b": [0.5, 0.52, 0.49]}), "score",
                           higher_is_better=False)
    assert loss.best == "a" and loss.distinguishable == ["b"]
    assert loss.comparisons[0].difference == pytest.approx(0.2033, abs=1e-3)
    assert loss.comparisons[0].effect_size > 0
    # one activation only: the winner by default; no data: no verdict
    alone = ranking_verdict(frame({"a": [0.3, 0.4]}), "score")
    assert (alone.best, alone.best_group, alone.test) == ("a", ["a"], "")
    assert ranking_verdict(frame({"a": [0.3]}), "missing") is None


def test_constant_differences_are_decided_without_a_warning():
    import warnings

    gelu = np.array([0.98, 0.97, 0.99, 0.975])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = compare_to_best(frame({"gelu": gelu, "relu": gelu.copy()}), "score")[0]
        shifted = compare_to_best(frame({"gelu": gelu, "relu": gelu - 0.01}), "score")[0]
        flat = compare_to_best(unpaired({"gelu": [0.9] * 3, "relu": [0.8] * 3}), "score")[0]
        equal = compare_to_best(unpaired({"gelu": [0.9] * 3, "relu": [0.9] * 3}), "score")[0]
    # no difference at all: p = 1; a nonzero difference every seed agrees on: p = 0
    assert same.test == PAIRED and same.p_value == 1.0 and not same.significant
    assert shifted.test == PAIRED and shifted.p_value == 0.0 and shifted.significant
    assert shifted.difference == pytest.approx(0.01) and math.isnan(shifted.effect_size)
    assert flat.test == WELCH and flat.p_value == 0.0 and flat.significant
    assert equal.p_value == 1.0 and not equal.significant and math.isnan(equal.effect_size)
    assert "d_z" not in comparison_sentence(shifted)  # undefined effect size is left out


@pytest.mark.slow
def test_seeds_split_validation_restore_best_and_statistics_end_to_end(tmp_path):
    out = tmp_path / "out"
    cfg = tiny_config(out, data={"validation": "split", "validation_split": 0.25,
                                 "limit_train": 400},
                      model={"architecture": "mlp", "depth": 2, "width": 32,
                             "activations": ["relu", "sigmoid"]},
                      training={"epochs": 3, "seeds": [0, 1], "restore_best": True,
                                "loss": "categorical_crossentropy"},
                      output={"save_models": True})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0
    ranking = pd.read_csv(out / "statistics.csv")
    assert list(ranking["rank"]) == [1, 2] and ranking["seeds"].eq(2).all()
    for col in ("test_categorical_accuracy_mean", "test_categorical_accuracy_ci95_low",
                "test_loss_std", "p_value_vs_best", "p_adjusted_vs_best", "effect_vs_best",
                "test_vs_best"):
        assert col in ranking
    md = (out / "summary.md").read_text()
    assert "## How sure is the ranking?" in md and "mean ± std" in md
    # the test metrics come from the best-validation weights (by the objective, validation
    # categorical accuracy): re-evaluating the saved model on the held-out split reproduces
    # the best val_categorical_accuracy of the history
    import keras

    from actsearch.config import load_config
    from actsearch.data import load_dataset

    data = load_dataset(load_config(out / "config.yaml").data)
    hist = pd.read_csv(out / "histories" / "relu-seed1.csv")
    model = keras.models.load_model(out / "models" / "relu-seed1.keras")
    val = model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)
    assert val["categorical_accuracy"] == pytest.approx(
        hist["val_categorical_accuracy"].max(), rel=1e-6)
    assert len(data.x_val) + len(data.x_train) == 400 and abs(len(data.x_val) - 100) <= 5
