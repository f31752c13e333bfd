import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import tiny_config, write_config
from scipy import stats

from actsearch.analysis import rank_activations
from actsearch.cli import main
from actsearch.config import config_from_dict
from actsearch.exact_tests import (
    PERMUTATIONS,
    holm,
    paired_p_floor,
    paired_shift,
    rank_sum_p,
    rank_sum_p_many,
    seeds_needed,
    sign_flip_p,
    signed_rank_p,
    unpaired_p_floor,
    unpaired_shift,
)
from actsearch.reporting.plots import band
from actsearch.reporting.report import (
    _ranking_table,
    comparison_sentence,
    comparison_sentences,
    floor_sentence,
    verdict_sentence,
)
from actsearch.search.outputs import claim
from actsearch.statistics import (
    ALPHA,
    COHENS_D,
    D_Z,
    MCB,
    PAIRED,
    REFERENCE,
    UNPAIRED,
    aggregate,
    best_group,
    claim_bounds,
    compare_to_best,
    describe,
    metric_range,
    rank_correlation,
    ranking_order,
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
    (c,) = compare_to_best(summary, "score", reference="gelu")
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
    groups = {"a": [0.9, 0.91, 0.92], "b": [0.8, 0.81, 0.82], "c": [0.7, 0.71, 0.72]}
    three = ranking_verdict(frame(groups), "score")  # MCB: one-sided, 5% / 2 rivals
    text = floor_sentence(three)
    assert text.startswith("With 3 paired seeds no one-sided p-value can go below 0.12, so "
                           "none can be significant here (MCB over 2 rivals of each "
                           "activation needs p < 0.025)")
    assert three.distinguishable == [] and three.p_floor == 0.125
    # 3 seeds bound no difference at 95%; MCB over 2 rivals needs 1/2^n < 2.5%: 6 seeds
    assert all("at least 6 paired seeds are needed for a distribution-free 95% interval here"
               in line for line in comparison_sentences(three))
    cfg = config_from_dict(tiny_config(Path("unused")))
    assert verdict_sentence(three, cfg) == (
        "a has the best mean test categorical_accuracy. With these seeds no activation can be "
        "excluded from the best (a p-value below 0.025 is needed and none can go below 0.12): "
        "the order is by mean alone and shows no activation better than another; run at "
        "least 6 seeds per activation (training.seeds) before calling a winner.")
    against_a = ranking_verdict(frame(groups), "score", reference="a")  # two-sided, Holm
    assert floor_sentence(against_a).startswith(
        "With 3 paired seeds no p-value can go below 0.25, so none can be significant here "
        "(Holm over 2 comparisons needs p < 0.025)")
    assert "run at least 7 seeds" in verdict_sentence(against_a, cfg)
    ten = ranking_verdict(frame({"a": np.arange(10) / 100 + 0.5, "b": np.arange(10) / 100}),
                          "score")
    assert floor_sentence(ten).startswith("With 10 paired seeds no one-sided p-value can go "
                                          "below 0.00098; MCB over 1 rival of each activation "
                                          "needs p < 0.05")
    assert ten.distinguishable == ["b"]
    assert "It is the best of these (Hsu's multiple comparisons with the best, 95%)" in \
        verdict_sentence(ten, cfg)


def test_clear_difference_is_significant_and_noise_is_not_unpaired():
    rng = np.random.default_rng(0)
    groups = {"gelu": 0.99 + rng.normal(0, 0.001, 5), "relu": 0.98 + rng.normal(0, 0.001, 5),
              "elu": 0.99 + rng.normal(0, 0.01, 5)}
    best = str(ranking_order(unpaired(groups), "score")["activation"].iloc[0])
    assert best in ("gelu", "elu")
    # no seed column: unpaired
    result = by_name(compare_to_best(unpaired(groups), "score", reference=best))
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
    result = by_name(compare_to_best(frame({"relu": relu, "gelu": gelu}), "score",
                                     reference="gelu"))["relu"]
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
    assert by_name(compare_to_best(shuffled, "score", reference="gelu"))["relu"].p_value == \
        pytest.approx(expected)
    assert f"{PAIRED} over 6 seeds, d_z = " in comparison_sentence(result)
    assert "Holm-adjusted p = " in comparison_sentence(result)


def test_unpaired_when_seed_sets_differ():
    gelu, relu = np.array([0.99, 0.985, 0.992, 0.988]), np.array([0.98, 0.975, 0.983, 0.97])
    differing = frame({"gelu": gelu, "relu": relu}, seeds={"relu": [0, 1, 2, 5]})
    missing_one = frame({"gelu": gelu, "relu": relu[:3]})  # relu's seed 3 did not finish
    for summary in (differing, missing_one):
        result = compare_to_best(summary, "score", reference="gelu")[0]
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
    assert compare_to_best(failed, "score", reference="gelu")[0].test == UNPAIRED
    # a diverged one does: a diverged seed 3 pairs up
    diverged = pd.concat([missing_one, pd.DataFrame([{"activation": "relu", "seed": 3,
                                                      "status": "diverged", "score": 0.1}])])
    assert compare_to_best(diverged, "score", reference="gelu")[0].test == PAIRED


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
    comparisons = compare_to_best(frame(rivals()), "score", reference="best")
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
    comparisons = compare_to_best(summary, "score", reference="best")
    significant = {c.activation for c in comparisons if c.significant}
    assert significant == {"far"}
    group = best_group(comparisons, "best")
    assert group[0] == "best" and set(group) == set(groups) - significant
    verdict = ranking_verdict(summary, "score", reference="best")
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
                           higher_is_better=False, reference="a")
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
        same = compare_to_best(frame({"gelu": gelu, "relu": gelu.copy()}), "score",
                               reference="gelu")[0]
        flat = compare_to_best(unpaired({"gelu": [0.9] * 3, "relu": [0.8] * 3}), "score",
                               reference="gelu")[0]
        equal = compare_to_best(unpaired({"gelu": [0.9] * 3, "relu": [0.9] * 3}), "score",
                                reference="gelu")[0]
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
    (c,) = compare_to_best(summary, "score", reference="steady")
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
    (c,) = compare_to_best(summary, "score", reference="steady")
    assert c.best == "steady" and c.difference < 0  # better finished mean, still ranked 2nd
    # |d|: 0.002 twice, inf four times -> signed ranks -1.5, -1.5, 4.5 x 4 (sum 15): only the
    # 4 of 64 sign patterns with all four 4.5 positive reach 15, so p = 2 * 4/64
    signed = np.array([-1.5, -1.5, 4.5, 4.5, 4.5, 4.5])
    assert c.p_value == pytest.approx(8 / 64) == pytest.approx(stats.permutation_test(
        (signed,), np.sum, permutation_type="samples", n_resamples=np.inf).pvalue)
    all_diverged = frame({"steady": steady, "gone": steady},
                         status={"gone": ["diverged"] * 6})
    (gone,) = compare_to_best(all_diverged, "score", reference="steady")
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
    assert gelu["test_vs_best"] == PAIRED and gelu["p_floor_vs_best"] == pytest.approx(0.125)
    # relu - gelu: -0.01, +0.01, +inf: signed ranks -1.5, +1.5, +3; 3 of 8 sign patterns
    # reach a sum of 3 or more: one-sided p 3/8 (MCB; two-sided 0.75)
    assert gelu["p_value_vs_best"] == pytest.approx(0.375)
    md_table = _ranking_table(table, cfg)
    assert md_table.header[3:5] == ["test categorical_accuracy % (mean ± std [95% CI])",
                                    "diverged / pruned"]
    assert md_table.rows[0][:5] == ["1", "relu", "3", md_table.rows[0][3], "0 of 3"]
    assert md_table.rows[1][1:3] == ["gelu", "2"] and md_table.rows[1][4] == "1 diverged of 3"
    assert md_table.rows[1][3].startswith("91.50 ± 0.71")
    verdict = ranking_verdict(summary, "test_categorical_accuracy")
    assert verdict_sentence(verdict, cfg).startswith(
        "relu has the best mean test categorical_accuracy with each diverged or pruned seed "
        "counted as the worst result here. With these seeds no activation can be excluded")
    assert floor_sentence(verdict).startswith("With 3 paired seeds no one-sided p-value can go "
                                              "below 0.12, so none can be significant here")
    # MCB with 2 activations: one-sided, the rival relu against gelu
    assert gelu["procedure"] == MCB and gelu["rival"] == "relu"
    # every activation has its interval (3 seeds cannot bound it at 95%), inside the column
    assert table["ci_low_vs_best"].notna().all() and table["ci_high_vs_best"].notna().all()
    assert md_table.header[-1] == "vs the best of the others (pp, 95%)"
    assert md_table.rows[0][-1] == "[-∞, +∞]"


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
                "test_vs_best", "shift_vs_best", "ci_low_vs_best", "ci_high_vs_best",
                "procedure", "compared_with"):
        assert col in ranking
    md = (out / "summary.md").read_text()
    assert "## How sure is the ranking?" in md and "mean ± std" in md
    assert "With 2 paired seeds no one-sided p-value can go below 0.25" in md
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


# --- the size of every difference, the procedures, the ranges ------------------------------

def test_one_sided_tests_are_scipys_exact_wilcoxon_and_mann_whitney():
    rng = np.random.default_rng(4)
    d, a, b = rng.normal(0.3, 1, (30, 7)), rng.normal(0.5, 1, (30, 5)), rng.normal(0, 1, (30, 4))
    for alternative in ("two-sided", "greater", "less"):
        assert sign_flip_p(d, alternative) == pytest.approx(
            [stats.wilcoxon(x, method="exact", alternative=alternative).pvalue for x in d])
        assert rank_sum_p_many(a, b, alternative) == pytest.approx(
            [stats.mannwhitneyu(x, y, method="exact", alternative=alternative).pvalue
             for x, y in zip(a, b, strict=True)])


@pytest.mark.parametrize("paired", [True, False])
def test_the_shift_interval_is_the_set_of_shifts_the_exact_test_does_not_reject(paired):
    """Inverting the test: just inside each end the one-sided test at alpha_one keeps the
    shift, just outside it rejects; the estimate is the median Walsh average / pairwise
    difference (Hodges-Lehmann)."""
    rng = np.random.default_rng(5)
    alpha_one = 0.025
    for _ in range(10):
        a, b = rng.normal(0.4, 1, 8), rng.normal(0, 1, 7 if not paired else 8)
        if paired:
            shift, low, high = paired_shift(a - b, alpha_one)
            i, j = np.triu_indices(8)
            assert shift == pytest.approx(np.median(((a - b)[i] + (a - b)[j]) / 2))

            def p(delta, alternative, a=a, b=b):
                return signed_rank_p(a - b - delta, alternative)
        else:
            shift, low, high = unpaired_shift(a, b, alpha_one)
            assert shift == pytest.approx(np.median(a[:, None] - b[None, :]))

            def p(delta, alternative, a=a, b=b):
                return rank_sum_p(a - delta, b, alternative)
        eps = 1e-6
        assert p(low - eps, "greater") <= alpha_one < p(low + eps, "greater")
        assert p(high + eps, "less") <= alpha_one < p(high - eps, "less")
        assert low < shift < high


def test_a_shift_interval_is_unbounded_where_the_seeds_cannot_reach_the_level():
    # 5 paired seeds: no one-sided p below 1/32 > 2.5%, so no 95% interval is bounded
    assert paired_shift(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), 0.025)[1:] == (-np.inf, np.inf)
    # 6: 1/64 < 2.5%, bounded by the smallest and largest difference
    assert paired_shift(np.arange(1, 7) / 10, 0.025)[1:] == pytest.approx((0.1, 0.6))


def eight_seeds():
    """Six activations over 8 paired seeds: "top" 0.6 points ahead of five near-equal ones,
    "weak" 5 points behind."""
    rng = np.random.default_rng(6)
    seed = rng.normal(0, 0.01, 8)
    groups = {name: 0.97 + seed + rng.normal(0, 0.0005, 8) for name in ("b", "c", "d", "e")}
    groups["top"] = 0.976 + seed + rng.normal(0, 0.0005, 8)
    groups["weak"] = 0.92 + seed + rng.normal(0, 0.0005, 8)
    return groups


def test_multiple_comparisons_with_the_best_keep_the_constrained_intervals():
    verdict = ranking_verdict(frame(eight_seeds()), "score")
    assert verdict.procedure == MCB and verdict.reference is None and verdict.best == "top"
    assert verdict.best_group == ["top"] and set(verdict.distinguishable) == {
        "b", "c", "d", "e", "weak"}
    for c in verdict.comparisons:
        assert c.low <= 0 <= c.high and c.high == 0  # excluded: not ahead of the others
        assert c.p_adjusted == pytest.approx(min(1.0, 5 * c.p_value))
        assert c.p_value == pytest.approx(1 / 256) and c.rival == "top"
    assert 0 <= verdict.best_low <= verdict.best_high  # constrained: contains 0
    weak = {c.activation: c for c in verdict.comparisons}["weak"]
    assert -0.06 < weak.low < -0.05 + 0.003  # about 5 points behind the best of the others
    assert weak.shift == pytest.approx(-0.056, abs=0.003)  # weak - top
    # with the best removed, the near-equal ones cannot be told apart: the best may be any
    rest = {k: v for k, v in eight_seeds().items() if k != "top"}
    open_ = ranking_verdict(frame(rest), "score")
    assert set(open_.best_group) == {"b", "c", "d", "e"} and open_.distinguishable == ["weak"]
    cfg = config_from_dict(tiny_config(Path("unused")))
    text = verdict_sentence(open_, cfg)
    assert "The best may be any of" in text and "weak is excluded" in text
    assert "Not excluded does not mean as good" in text
    lines = comparison_sentences(open_)
    assert lines[0].startswith(f"{open_.best} (best by mean): {open_.best} is at most ")
    assert all("pp" in line for line in lines)


def test_a_reference_named_in_advance_is_tested_with_holm_and_sized():
    groups = eight_seeds()
    verdict = ranking_verdict(frame(groups), "score", reference="b")
    assert verdict.procedure == REFERENCE and verdict.anchor == "b"
    by = {c.activation: c for c in verdict.comparisons}
    assert set(by) == {"top", "c", "d", "e", "weak"}
    assert by["top"].significant and by["top"].low > 0  # top - b: better, interval above 0
    assert by["weak"].significant and by["weak"].high < 0
    assert [c.p_adjusted for c in verdict.comparisons] == pytest.approx(
        holm([c.p_value for c in verdict.comparisons]))
    for c in verdict.comparisons:
        d = groups[c.activation] - groups["b"]
        shift, low, high = paired_shift(d, ALPHA / (2 * 5))  # Bonferroni, two-sided
        assert (c.shift, c.low, c.high) == pytest.approx((shift, low, high), abs=1e-9)
    cfg = config_from_dict(tiny_config(Path("unused")))
    text = verdict_sentence(verdict, cfg)
    assert "Against b, named in advance (statistics.reference" in text
    assert "significantly better than b: top" in text and "significantly worse: weak" in text
    sentence = comparison_sentence(by["top"])
    assert "top is better than b by at least" in sentence
    assert "(simultaneous 95%)" in sentence
    # a reference that did not run falls back to MCB
    assert ranking_verdict(frame(groups), "score", reference="absent").procedure == MCB


def test_not_significant_is_never_worded_as_equal():
    c = {c.activation: c for c in ranking_verdict(frame(eight_seeds()), "score",
                                                  reference="b").comparisons}["c"]
    assert not c.significant
    text = comparison_sentence(c)
    assert "which does not make them equal" in text
    assert "c is at most" in text and "better than b and at most" in text
    for word in ("as good as", "as well as", "equivalent", "same as"):
        assert word not in text


def test_mean_intervals_stay_inside_what_the_metric_can_be():
    # mnist-cpu-shuffle's sigmoid: 5 seeds, two stuck near chance
    sigmoid = np.array([0.97, 0.975, 0.968, 0.113, 0.98])
    bounded = describe(sigmoid, metric_range("test_categorical_accuracy"))
    free = describe(sigmoid)
    assert free["ci95_high"] > 1 and bounded["ci95_high"] == 1.0
    assert bounded["ci95_low"] == pytest.approx(free["ci95_low"])
    loss = describe(np.array([0.1, 0.12, 2.5, 0.09]), metric_range("test_loss"))
    assert loss["ci95_low"] == 0.0
    assert metric_range("val_binary_accuracy") == (0.0, 1.0)
    assert metric_range("some_score") == (-np.inf, np.inf)
    table = aggregate(frame({"sigmoid": sigmoid}).rename(columns={"score": "test_accuracy"}),
                      ["test_accuracy"])
    assert table["test_accuracy_ci95_high"].iloc[0] == 1.0


def test_the_plots_bands_stay_inside_what_the_metric_can_be():
    mean, std = pd.Series([0.95, 0.5, 0.1]), pd.Series([0.1, 0.1, 0.2])
    low, high = band(mean, std, "val_categorical_accuracy")
    assert list(high) == pytest.approx([1.0, 0.6, 0.3]) and list(low) == pytest.approx(
        [0.85, 0.4, 0.0])
    low, high = band(pd.Series([0.05]), pd.Series([0.2]), "val_loss")
    assert low.iloc[0] == 0.0 and high.iloc[0] == pytest.approx(0.25)


def claim_cfg(baselines):
    cfg = config_from_dict(tiny_config(Path("unused"), model={"activations": baselines},
                                       search={"confirm": {"baselines": baselines}}))
    return cfg


def confirm_frame(groups, status=None):
    return frame(groups, status=status).rename(columns={"score": "test_categorical_accuracy"})


def test_the_search_claim_needs_every_baseline_and_says_how_far_a_candidate_can_be_ahead():
    groups = eight_seeds()
    cfg = claim_cfg(["relu", "gelu"])
    groups["relu"], groups["gelu"] = groups.pop("b"), groups.pop("c")
    summary = confirm_frame({k: groups[k] for k in ("top", "d", "relu", "gelu")})
    text, beats = claim(summary, cfg, cfg, ["top", "d"])
    assert beats and text.startswith("Yes: top beats every baseline")
    bounds = claim_bounds(summary, "test_categorical_accuracy", ["top", "d"], ["relu", "gelu"])
    assert bounds.candidate == "top" and 0 < bounds.low < bounds.high
    # equal candidates: no claim, and the ceiling of what the data leave open
    tie = confirm_frame({k: groups[k] for k in ("d", "e", "relu", "gelu")})
    text, beats = claim(tie, cfg, cfg, ["d", "e"])
    assert not beats and text.startswith("No claim:")
    assert "no candidate beats the best baseline by more than" in text
    # a baseline whose every trial failed: cannot claim, whatever the others show
    failed = confirm_frame({k: groups[k] for k in ("top", "d", "relu", "gelu")},
                           status={"gelu": ["failed"] * 8})
    text, beats = claim(failed, cfg, cfg, ["top", "d"])
    assert not beats and text.startswith("Cannot claim: a verdict needs every baseline")
    assert "gelu has no finished, diverged or pruned trial" in text
    missing = confirm_frame({k: groups[k] for k in ("top", "d", "relu")})
    assert claim(missing, cfg, cfg, ["top", "d"])[0].startswith("Cannot claim")


@pytest.mark.slow
def test_a_tiny_run_sizes_every_comparison_inside_the_metric_and_owns_test_selection(tmp_path):
    """A real run validated on the test set with restore-best and early stopping: summary.md
    and report.html say its test figures were selected on the test set; every comparison
    has its interval; no interval of statistics.csv leaves what its metric can be."""
    out = tmp_path / "out"
    cfg = tiny_config(out, data={"validation": "test", "limit_train": 300},
                      model={"architecture": "mlp", "depth": 2, "width": 16,
                             "activations": ["relu", "tanh"]},
                      training={"epochs": 2, "seeds": [0, 1, 2], "restore_best": True,
                                "early_stopping_patience": 1},
                      statistics={"reference": "relu"})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0
    md, html = (out / "summary.md").read_text(), (out / "report.html").read_text()
    for text in (md, html):
        assert "these test figures were selected on the test set" in text
        assert "training.restore_best" in text and "training.early_stopping_patience" in text
    table = pd.read_csv(out / "statistics.csv")
    assert set(table["procedure"]) == {REFERENCE} and set(table["compared_with"]) == {"relu"}
    others = table[table["activation"] != "relu"]
    assert others["ci_low_vs_best"].notna().all() and others["ci_high_vs_best"].notna().all()
    for column in ("test_categorical_accuracy", "best_val_categorical_accuracy", "test_loss"):
        low, high = metric_range(column)
        assert (table[f"{column}_ci95_low"] >= low).all()
        assert (table[f"{column}_ci95_high"] <= high).all()
    bullets = [line for line in md.splitlines() if line.startswith("- relu vs ")]
    assert len(bullets) == 1
    # 3 seeds bound no difference at 95%, and the text says so
    assert all("the seeds do not bound how much" in line and "Hodges-Lehmann" in line
               for line in bullets)
    assert "no activation can be told apart from relu" in md
    # redrawn without the reference (it changes no trial): Hsu's MCB, the best's own
    # interval first
    saved = yaml.safe_load((out / "config.yaml").read_text())
    del saved["statistics"]
    (out / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    assert main(["plot", str(out)]) == 0
    md = (out / "summary.md").read_text()
    table = pd.read_csv(out / "statistics.csv")
    assert set(table["procedure"]) == {MCB} and table["ci_low_vs_best"].notna().all()
    assert "Hsu's multiple comparisons with the best" in md
    best = table["activation"].iloc[0]
    assert f"- {best} (best by mean): " in md


def test_statistics_reference_is_checked_and_changes_no_trial(tmp_path):
    from actsearch.errors import UserError
    from actsearch.storage import same_experiment

    base = tiny_config(tmp_path, model={"activations": ["relu", "gelu"]})
    with pytest.raises(UserError, match="statistics.reference 'elu' is not among the "
                                        "activations trained"):
        config_from_dict({**base, "statistics": {"reference": "elu"}})
    named = config_from_dict({**base, "statistics": {"reference": "gelu"}})
    assert named.statistics.reference == "gelu"
    assert named.to_dict()["statistics"] == {"reference": "gelu"}
    plain = config_from_dict(base)
    assert "statistics" not in plain.to_dict()  # folders without the section stay as they were
    assert same_experiment(plain.to_dict(), named.to_dict())  # a folder resumes across it
