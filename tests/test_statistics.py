import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_config, write_config
from scipy import stats

from actsearch.analysis import rank_activations
from actsearch.cli import main
from actsearch.config import config_from_dict
from actsearch.reporting.report import (
    _ranking_table,
    comparison_sentence,
    floor_sentence,
    verdict_sentence,
)
from actsearch.statistics import (
    ALPHA,
    COHENS_D,
    D_Z,
    PAIRED,
    PERMUTATIONS,
    UNPAIRED,
    best_group,
    compare_to_best,
    describe,
    holm,
    paired_p_floor,
    rank_correlation,
    rank_sum_p,
    ranking_order,
    ranking_verdict,
    seeds_needed,
    signed_rank_p,
    unpaired_p_floor,
)


def test_describe_gives_mean_std_and_a_t_interval():
    values = np.array([0.97, 0.98, 0.99, 0.985, 0.975])
    d = describe(values)
    assert d["mean"] == pytest.approx(0.98)
    assert d["std"] == pytest.approx(np.std(values, ddof=1))
    half = stats.t.ppf(0.975, 4) * d["std"] / math.sqrt(5)
    assert (d["ci95_low"], d["ci95_high"]) == pytest.approx((0.98 - half, 0.98 + half))
    assert math.isnan(describe(np.array([0.5]))["std"])


def frame(groups, seeds=None, status=None):
    """Synthetic trials: one row per value, "ok" unless `status` names it per activation;
    seeds 0..n-1 unless given per activation."""
    rows = []
    for activation, values in groups.items():
        ids = (seeds or {}).get(activation, range(len(values)))
        states = (status or {}).get(activation, ["ok"] * len(values))
        rows += [{"activation": activation, "status": st, "seed": s, "score": v}
                 for s, v, st in zip(ids, values, states, strict=True)]
    return pd.DataFrame(rows)


def unpaired(groups):
    return frame(groups).drop(columns="seed")


def by_name(comparisons):
    return {c.activation: c for c in comparisons}


def test_the_sign_flip_test_is_scipys_exact_wilcoxon_and_permutation_test():
    d = np.array([0.3, -0.1, 0.5, 0.7, 0.2, 0.9, -0.4])  # no ties, no zeros
    assert signed_rank_p(d) == pytest.approx(stats.wilcoxon(d, method="exact").pvalue)
    assert signed_rank_p(d) == pytest.approx(20 / 128)  # W- = 1 + 3 = 4: 10 of 128 each side
    ranks = np.sign(d) * stats.rankdata(np.abs(d))
    direct = stats.permutation_test((ranks,), np.sum, permutation_type="samples",
                                    n_resamples=np.inf).pvalue
    assert signed_rank_p(d) == pytest.approx(direct)


def test_the_rank_sum_test_is_scipys_exact_mann_whitney():
    a, b = np.array([1.0, 2.5, 3.7, 4.1]), np.array([0.5, 0.7, 2.0, 1.2, 0.1])
    assert rank_sum_p(a, b) == pytest.approx(stats.mannwhitneyu(a, b, method="exact").pvalue)
    assert rank_sum_p(a, b) == pytest.approx(8 / 126)  # U = 18 of 20: 4 of 126 splits each side


@pytest.mark.parametrize("n, floor", [(2, 0.5), (3, 0.25), (4, 0.125), (5, 0.0625),
                                      (10, 2 / 1024)])
def test_a_constant_difference_over_n_seeds_gets_the_floor_2_over_2_to_the_n_never_0(n, floor):
    best = 0.98 + np.linspace(-0.01, 0.01, n)
    summary = frame({"gelu": best, "relu": best - 0.0005})  # one image in 2,000 every seed
    (c,) = compare_to_best(summary, "score")
    assert c.test == PAIRED and c.n_pairs == n
    assert c.p_value == pytest.approx(floor) and c.p_floor == pytest.approx(floor)
    assert paired_p_floor(n) == pytest.approx(floor)
    assert c.significant == (floor < ALPHA)
    assert math.isnan(c.effect_size)  # no spread in the differences: d_z undefined
    assert "d_z" not in comparison_sentence(c)
    assert f"smallest possible {floor:.2g}" in comparison_sentence(c)


def test_no_p_value_goes_below_its_floor_whatever_the_data():
    rng = np.random.default_rng(3)
    for n in range(2, 8):
        for _ in range(20):
            d = rng.normal(rng.normal(0, 1), 1, n) * 10.0 ** rng.integers(-4, 1)
            assert paired_p_floor(n) - 1e-12 <= signed_rank_p(d) <= 1.0
        a, b = rng.normal(0, 1, n), rng.normal(3, 1, 3)
        assert unpaired_p_floor(n, 3) - 1e-12 <= rank_sum_p(a, b) <= 1.0
    assert unpaired_p_floor(3, 3) == pytest.approx(2 / 20)
    # beyond exact enumeration the draws count the observed sign pattern: never 0
    many = np.full(20, 0.001)
    assert signed_rank_p(many) == pytest.approx(2 / (PERMUTATIONS + 1), rel=0.5)
    assert signed_rank_p(many) > 0 and paired_p_floor(20) == pytest.approx(2 / (PERMUTATIONS + 1))


def test_seeds_needed_follows_from_the_floor_and_holm():
    assert seeds_needed(1) == 6  # 2/2^6 = 0.031 < 0.05; 2/2^5 = 0.0625 is not
    assert seeds_needed(5) == 8  # Holm: the clearest of 5 needs p < 0.01; 2/2^8 = 0.0078
    for m in (1, 2, 5, 12):
        n = seeds_needed(m)
        assert paired_p_floor(n) < ALPHA / m <= paired_p_floor(n - 1)


def test_the_report_states_the_smallest_p_the_seeds_allow():
    three = ranking_verdict(frame({"a": [0.9, 0.91, 0.92], "b": [0.8, 0.81, 0.82],
                                   "c": [0.7, 0.71, 0.72]}), "score")
    text = floor_sentence(three)
    assert text.startswith("With 3 paired seeds no comparison can reach p < 0.25, so none can "
                           "be significant here after Holm over 2 comparisons")
    assert three.distinguishable == [] and three.p_floor == 0.25
    cfg = config_from_dict(tiny_config(Path("unused")))
    assert verdict_sentence(three, cfg) == (
        "a has the best mean test categorical_accuracy. With these seeds no comparison can be "
        "significant after Holm's correction (no p-value can go below 0.25): the order is by "
        "mean alone and shows no activation better than another; run at least 7 seeds per "
        "activation (training.seeds) before calling a winner.")
    ten = ranking_verdict(frame({"a": np.arange(10) / 100 + 0.5, "b": np.arange(10) / 100}),
                          "score")
    assert floor_sentence(ten).startswith("With 10 paired seeds no comparison can reach "
                                          "p < 0.002; with 1 comparison Holm needs p < 0.05")
    assert ten.distinguishable == ["b"]


def test_clear_difference_is_significant_and_noise_is_not_unpaired():
    rng = np.random.default_rng(0)
    groups = {"gelu": 0.99 + rng.normal(0, 0.001, 5), "relu": 0.98 + rng.normal(0, 0.001, 5),
              "elu": 0.99 + rng.normal(0, 0.01, 5)}
    result = by_name(compare_to_best(unpaired(groups), "score"))  # no seed column: unpaired
    best = result["relu"].best
    assert best in ("gelu", "elu")
    assert result["relu"].significant and result["relu"].difference > 0.005
    noisy = [c for c in result.values() if c.activation in ("gelu", "elu")]
    assert len(noisy) == 1 and not noisy[0].significant
    assert "not significant at 5 seeds" in comparison_sentence(noisy[0])
    assert f"{UNPAIRED} over 5 and 5 seeds" in comparison_sentence(noisy[0])
    expected = stats.mannwhitneyu(groups[best], groups["relu"], method="exact").pvalue
    assert result["relu"].test == UNPAIRED and result["relu"].effect == COHENS_D
    assert result["relu"].p_value == pytest.approx(expected) == pytest.approx(2 / 252)
    assert result["relu"].p_adjusted == pytest.approx(min(1.0, 2 * expected))


def test_paired_test_when_seeds_pair_up():
    # a large seed effect shared by both activations hides a small consistent gap from an
    # unpaired test
    seed_effect = np.array([0.00, 0.02, -0.015, 0.01, -0.02, 0.005])
    gap = np.array([0.004, 0.006, 0.005, 0.003, 0.007, -0.001])
    gelu, relu = 0.98 + seed_effect, 0.98 + seed_effect - gap
    result = by_name(compare_to_best(frame({"relu": relu, "gelu": gelu}), "score"))["relu"]
    expected = stats.wilcoxon(gelu, relu, method="exact").pvalue
    assert (result.best, result.test, result.effect) == ("gelu", PAIRED, D_Z)
    assert result.p_value == pytest.approx(expected) == pytest.approx(4 / 64)
    assert result.p_adjusted == pytest.approx(expected)  # m = 1
    assert result.effect_size == pytest.approx(gap.mean() / gap.std(ddof=1))
    assert result.difference == pytest.approx(gap.mean())
    assert (result.n_pairs, result.n_best, result.n_other) == (6, 6, 6)
    assert stats.mannwhitneyu(gelu, relu, method="exact").pvalue > 0.5  # unpaired: no sign
    # pairing is by seed, not by row order
    shuffled = frame({"relu": relu[::-1], "gelu": gelu}, seeds={"relu": [5, 4, 3, 2, 1, 0]})
    assert by_name(compare_to_best(shuffled, "score"))["relu"].p_value == \
        pytest.approx(expected)
    assert f"{PAIRED} over 6 seeds, d_z = " in comparison_sentence(result)
    assert "Holm-adjusted p = " in comparison_sentence(result)


def test_unpaired_when_seed_sets_differ():
    gelu, relu = np.array([0.99, 0.985, 0.992, 0.988]), np.array([0.98, 0.975, 0.983, 0.97])
    differing = frame({"gelu": gelu, "relu": relu}, seeds={"relu": [0, 1, 2, 5]})
    missing_one = frame({"gelu": gelu, "relu": relu[:3]})  # relu's seed 3 did not finish
    for summary in (differing, missing_one):
        result = compare_to_best(summary, "score")[0]
        other = summary[summary["activation"] == "relu"]["score"].to_numpy()
        assert (result.test, result.effect, result.n_pairs) == (UNPAIRED, COHENS_D, 0)
        assert result.p_value == pytest.approx(
            stats.mannwhitneyu(gelu, other, method="exact").pvalue)
        assert result.p_floor == pytest.approx(unpaired_p_floor(4, len(other)))
        pooled = np.sqrt((gelu.var(ddof=1) + other.var(ddof=1)) / 2)
        assert result.effect_size == pytest.approx((gelu.mean() - other.mean()) / pooled)
    # a failed trial does not count: a failed seed 3 leaves the seed sets different
    failed = pd.concat([missing_one, pd.DataFrame([{"activation": "relu", "seed": 3,
                                                    "status": "failed", "score": np.nan}])])
    assert compare_to_best(failed, "score")[0].test == UNPAIRED
    # a diverged one does: a diverged seed 3 pairs up
    diverged = pd.concat([missing_one, pd.DataFrame([{"activation": "relu", "seed": 3,
                                                      "status": "diverged", "score": 0.1}])])
    assert compare_to_best(diverged, "score")[0].test == PAIRED


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
    """The activation "best" and five rivals over seeds 0..9 sharing a seed effect, with fixed
    paired differences of sizes 1..10 (x 0.001): "far" worse in every seed (raw p = 2/1024),
    "edge" better in the 3 seeds of the smallest differences (raw p = 28/1024 = 0.027, 2nd
    smallest, so Holm multiplies it by 4: 0.11), the "near" ones with mixed signs."""
    best = 0.98 + np.array([0.0, 0.012, -0.008, 0.005, -0.011, 0.003, 0.007, -0.004, 0.009,
                            -0.006])
    size = np.arange(1, 11) * 0.001
    signs = {"far": [1] * 10, "edge": [-1, -1, -1] + [1] * 7,
             "near1": [-1, 1, -1, 1, -1, 1, -1, 1, -1, 1],
             "near2": [1, -1, 1, -1, 1, -1, 1, -1, 1, 1],
             "near3": [1, 1, -1, -1, 1, 1, -1, -1, 1, 1]}
    return {"best": best, **{name: best - size * np.array(s) for name, s in signs.items()}}


def test_a_raw_p_below_5_percent_can_be_not_significant_after_holm():
    comparisons = compare_to_best(frame(rivals()), "score")
    assert len(comparisons) == 5
    adjusted = holm([c.p_value for c in comparisons])
    assert [c.p_adjusted for c in comparisons] == pytest.approx(adjusted)
    assert all(c.test == PAIRED for c in comparisons)
    result = by_name(comparisons)
    assert result["far"].p_value == pytest.approx(2 / 1024)
    assert result["far"].significant and result["far"].p_adjusted == pytest.approx(10 / 1024)
    edge = result["edge"]
    assert edge.p_value == pytest.approx(28 / 1024)  # significant alone, not after Holm
    assert edge.p_adjusted == pytest.approx(4 * edge.p_value) and not edge.significant
    assert all(c.significant == (c.p_adjusted < ALPHA) for c in comparisons)
    assert "not significant at 10 seeds" in comparison_sentence(edge)


def test_best_group_and_ranking_verdict():
    groups = rivals()
    groups["single"] = np.array([0.5])  # one seed: untestable, cannot be told apart
    summary = frame(groups)
    comparisons = compare_to_best(summary, "score")
    significant = {c.activation for c in comparisons if c.significant}
    assert significant == {"far"}
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
    loss = ranking_verdict(frame({"a": [0.3, 0.31, 0.29, 0.3, 0.32, 0.28],
                                  "b": [0.5, 0.52, 0.49, 0.5, 0.51, 0.53]}), "score",
                           higher_is_better=False)
    assert loss.best == "a" and loss.distinguishable == ["b"]
    assert loss.comparisons[0].difference == pytest.approx(0.2083, abs=1e-3)
    assert loss.comparisons[0].effect_size > 0
    # one activation only: the winner by default; no data: no verdict
    alone = ranking_verdict(frame({"a": [0.3, 0.4]}), "score")
    assert (alone.best, alone.best_group, alone.test) == ("a", ["a"], "")
    assert ranking_verdict(frame({"a": [0.3]}), "missing") is None


def test_equal_outcomes_give_p_1_without_a_warning():
    import warnings

    gelu = np.array([0.98, 0.97, 0.99, 0.975])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = compare_to_best(frame({"gelu": gelu, "relu": gelu.copy()}), "score")[0]
        flat = compare_to_best(unpaired({"gelu": [0.9] * 3, "relu": [0.8] * 3}), "score")[0]
        equal = compare_to_best(unpaired({"gelu": [0.9] * 3, "relu": [0.9] * 3}), "score")[0]
    assert same.test == PAIRED and same.p_value == 1.0 and not same.significant
    assert flat.test == UNPAIRED and flat.p_value == pytest.approx(2 / 20)  # not 0
    assert not flat.significant and math.isnan(flat.effect_size)
    assert equal.p_value == 1.0 and not equal.significant and math.isnan(equal.effect_size)


# --- failures count ------------------------------------------------------------------------

def test_a_diverged_seed_ranks_its_activation_below_an_otherwise_equal_one():
    values = [0.981, 0.975, 0.979, 0.960]
    summary = frame({"steady": values, "fragile": values},
                    status={"fragile": ["ok", "ok", "ok", "diverged"]})
    # fragile's finished seeds average 0.9783, above steady's 0.9738: left out, the
    # divergence would crown it
    order = ranking_order(summary, "score")
    assert list(order["activation"]) == ["steady", "fragile"]
    assert list(order["worst"]) == [0, 1]
    (c,) = compare_to_best(summary, "score")
    assert (c.best, c.activation, c.test, c.n_pairs) == ("steady", "fragile", PAIRED, 4)
    assert (c.worst_best, c.worst_other) == (0, 1)
    # differences 0, 0, 0, +inf: only the diverged seed differs, the largest rank
    assert c.p_value == pytest.approx(signed_rank_p(np.array([0, 0, 0, np.inf])))
    assert c.p_value == pytest.approx(1.0) and math.isnan(c.effect_size)
    assert "1 of fragile's diverged or pruned, counted as worst" in comparison_sentence(c)
    # the same holds for a loss (lower is better): a diverged seed is the largest loss
    losses = frame({"steady": [0.1, 0.2, 0.3], "fragile": [0.1, 0.2, np.nan]},
                   status={"fragile": ["ok", "ok", "diverged"]})
    assert list(ranking_order(losses, "score", False)["activation"]) == ["steady", "fragile"]


def test_diverging_seeds_count_against_an_activation_in_the_test():
    # 6 seeds; "fragile" is 0.2 points better when it trains but diverges in 4 of them
    steady = 0.97 + np.arange(6) * 0.001
    fragile = steady + 0.002
    summary = frame({"steady": steady, "fragile": fragile},
                    status={"fragile": ["ok", "ok", "diverged", "diverged", "diverged",
                                        "diverged"]})
    (c,) = compare_to_best(summary, "score")
    assert c.best == "steady" and c.difference < 0  # better finished mean, still ranked 2nd
    # |d|: 0.002 twice, inf four times -> signed ranks -1.5, -1.5, 4.5 x 4 (sum 15): only the
    # 4 of 64 sign patterns with all four 4.5 positive reach 15, so p = 2 * 4/64
    signed = np.array([-1.5, -1.5, 4.5, 4.5, 4.5, 4.5])
    assert c.p_value == pytest.approx(8 / 64) == pytest.approx(stats.permutation_test(
        (signed,), np.sum, permutation_type="samples", n_resamples=np.inf).pvalue)
    all_diverged = frame({"steady": steady, "gone": steady},
                         status={"gone": ["diverged"] * 6})
    (gone,) = compare_to_best(all_diverged, "score")
    assert gone.best == "steady" and gone.p_value == pytest.approx(2 / 64) and gone.significant


def test_a_pruned_seed_cannot_raise_a_mean():
    values = [0.981, 0.975, 0.979, 0.960]
    summary = frame({"whole": values, "pruned": [*values[:3], 0.5]},
                    status={"pruned": ["ok", "ok", "ok", "pruned"]})
    order = ranking_order(summary, "score").set_index("activation")
    assert order.loc["pruned", "ranking_mean"] <= order.loc["whole", "ranking_mean"]
    assert list(order.index) == ["whole", "pruned"]
    # it enters at the worst finished value here (0.960): not its early 0.5, and not left out
    assert order.loc["pruned", "ranking_mean"] == pytest.approx(np.mean([*values[:3], 0.96]))


def test_the_statistics_table_and_summary_rank_a_diverged_seed_last(tmp_path):
    """The real path: a trial summary -> rank_activations (statistics.csv) -> the ranking
    table and sentence of summary.md, with exact numbers."""
    cfg = config_from_dict(tiny_config(tmp_path, model={"activations": ["relu", "gelu"]},
                                       training={"seeds": [0, 1, 2]}))
    rows = []
    for act, accs, states in [("relu", [0.90, 0.93, 0.91], ["ok"] * 3),
                              ("gelu", [0.91, 0.92, np.nan], ["ok", "ok", "diverged"])]:
        rows += [{"trial": f"{act}-seed{s}", "activation": act, "seed": s, "status": st,
                  "test_categorical_accuracy": a, "test_loss": 0.3,
                  "best_val_categorical_accuracy": a} for s, (a, st) in
                 enumerate(zip(accs, states, strict=True))]
    summary = pd.DataFrame(rows)
    table = rank_activations(cfg, summary)
    assert list(table["activation"]) == ["relu", "gelu"]  # gelu's mean 91.50 > 91.33
    gelu = table.set_index("activation").loc["gelu"]
    assert (gelu["seeds"], gelu["diverged"], gelu["counted"]) == (2, 1, 3)
    assert gelu["test_categorical_accuracy_mean"] == pytest.approx(0.915)
    assert gelu["ranking_mean"] == pytest.approx((0.91 + 0.92 + 0.90) / 3)  # below 0.9133
    assert gelu["test_vs_best"] == PAIRED and gelu["p_floor_vs_best"] == pytest.approx(0.25)
    # relu - gelu: -0.01, +0.01, +inf: signed ranks -1.5, +1.5, +3; 3 of 8 sign patterns
    # reach a sum of 3 or more
    assert gelu["p_value_vs_best"] == pytest.approx(0.75)
    md_table = _ranking_table(table, cfg)
    assert md_table.header[3:5] == ["test categorical_accuracy % (mean ± std [95% CI])",
                                    "diverged / pruned"]
    assert md_table.rows[0][:5] == ["1", "relu", "3", md_table.rows[0][3], "0 of 3"]
    assert md_table.rows[1][1:3] == ["gelu", "2"] and md_table.rows[1][4] == "1 diverged of 3"
    assert md_table.rows[1][3].startswith("91.50 ± 0.71")
    verdict = ranking_verdict(summary, "test_categorical_accuracy")
    assert verdict_sentence(verdict, cfg).startswith(
        "relu has the best mean test categorical_accuracy with each diverged or pruned seed "
        "counted as the worst result here. With these seeds no comparison can be significant")
    assert floor_sentence(verdict).startswith("With 3 paired seeds no comparison can reach "
                                              "p < 0.25, so none can be significant here: at "
                                              "least 6 paired seeds")


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
    assert "With 2 paired seeds no comparison can reach p < 0.5" in md
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


def test_rank_correlation_is_scipys_rho_with_an_interval_that_covers():
    """Spearman's rho as scipy computes it; its 95% interval covers the true rank correlation
    of a bivariate normal (rho_s = 6/pi asin(r/2)) in about 95% of 400 samples of 40; no
    interval below 4 pairs, no rho for a constant score."""
    rng = np.random.default_rng(0)
    r = 0.6
    true = 6 / math.pi * math.asin(r / 2)
    covered = 0
    for _ in range(400):
        x = rng.normal(size=40)
        y = r * x + math.sqrt(1 - r ** 2) * rng.normal(size=40)
        c = rank_correlation(x, y)
        assert c.rho == pytest.approx(stats.spearmanr(x, y).statistic)
        assert c.low < c.rho < c.high
        covered += c.low <= true <= c.high
    assert 0.91 <= covered / 400 <= 0.99
    assert rank_correlation([1, 2, 3], [1, 3, 2]).low is None
    assert rank_correlation([1, 2, 3, 4], [5, 5, 5, 5]).rho is None
    noise = rank_correlation(rng.normal(size=12), rng.normal(size=12))
    assert noise.low < 0 < noise.high and noise.predicts is False
