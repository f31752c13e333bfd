"""How sure is the ranking? Per-activation statistics over seeds, and tests against the best.

Seeds are the unit of replication: each trial gives one number per activation. Which trials
count, and how:
- finished ("ok") trials count with their value;
- diverged and pruned trials count as the worst outcome: ranked below every finished value
  (tied with each other). A diverged network is useless, so leaving it out would rank an
  activation that diverges in 2 of 5 seeds by its 3 survivors. A pruned trial was stopped
  because it was behind its peers or at chance and has no value of a finished training (its
  value at the pruning epoch is from a shorter training); leaving it out would drop an
  activation's worst seeds and raise its mean, and counting its early value would mix
  trainings of different lengths. As the worst outcome it can only lower the activation;
- failed trials (a crash, retried by the next run) and unfinished ones do not count.

Means, standard deviations and t-intervals describe the finished seeds only, with the number
of diverged and pruned seeds beside them. The order of the ranking counts every counted seed:
activations are ordered by the mean over their seeds with each diverged or pruned seed at the
worst finished value at the same point (then fewer such seeds first), so an activation that
diverges in some seeds can never outrank one that equals it everywhere else and never does.

The best activation (first in that order) is compared with each other one by an exact
permutation test on ranks, exact for few seeds and valid for any distribution:
- seeds paired (both activations have the same counted seeds; same seed = same initial
  weights, split and batch order): the sign-flip test on the paired differences with the
  signed-rank statistic (the exact Wilcoxon signed-rank test, Pratt's treatment of zero
  differences). With n seeds every one of the 2^n sign patterns is enumerated (n <= 13), so
  p is never below 2/2^n: 0.5 with 2 seeds, 0.25 with 3, 0.0625 with 5. A worst seed is a
  difference of infinite size, the largest rank;
- seeds not paired (a seed failed or is missing on one side): the permutation test on the
  pooled ranks (the exact Mann-Whitney rank-sum test), p never below 2/C(n1 + n2, n1).
Beyond exact enumeration both draw PERMUTATIONS random permutations (fixed seed; p counts the
observed one, so it is never 0). p-values are two-sided and adjusted by Holm's step-down
method over the comparisons with the best (family-wise error at ALPHA); only the adjusted
p-value decides significance. Effect sizes (d_z paired, Cohen's d unpaired) use the finished
values and are left out when a worst seed takes part.

This module computes numbers only; the sentences belong to the report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from actsearch.trials import Status

ALPHA = 0.05
PAIRED = "paired sign-flip test (signed ranks)"
UNPAIRED = "rank-sum permutation test"
COHENS_D = "Cohen's d"  # mean difference / pooled standard deviation (unpaired)
D_Z = "d_z"  # mean difference / standard deviation of the paired differences
PERMUTATIONS = 2 ** 13  # exact enumeration up to 13 paired seeds; random draws beyond
COUNTED = (Status.OK, Status.DIVERGED, Status.PRUNED)
WORST = (Status.DIVERGED, Status.PRUNED)  # counted as the worst outcome
RELATIVE_DIGITS = 10  # differences below 1e-10 of the values compared are float noise


def describe(values: np.ndarray) -> dict[str, float]:
    """Mean, sample standard deviation and a 95% t-interval (NaN where undefined)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    std = float(values.std(ddof=1)) if n > 1 else float("nan")
    if n > 1 and std > 0:
        low, high = stats.t.interval(0.95, n - 1, loc=mean, scale=std / np.sqrt(n))
    elif n > 1:
        low = high = mean
    else:
        low = high = float("nan")
    return {"mean": mean, "std": std, "ci95_low": float(low), "ci95_high": float(high)}


def counted_trials(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """The trials that take part in the comparison of `column`, with a `worst` flag:
    finished ones with a value, and every diverged or pruned one (value or not)."""
    if "status" not in summary or column not in summary:
        return summary.iloc[0:0].assign(worst=pd.Series(dtype=bool))
    status = summary["status"].astype(str)
    worst = status.isin([str(s) for s in WORST])
    keep = worst | ((status == str(Status.OK)) & summary[column].notna())
    return summary[keep].assign(worst=worst[keep])


def aggregate(summary: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per activation: seeds (finished trials), diverged and pruned counts, counted
    (the three together), and mean/std/CI of each column over the finished trials."""
    rows = []
    for activation, group in summary.groupby("activation", sort=False):
        ok = group[group["status"] == Status.OK]
        row: dict = {"activation": activation, "seeds": len(ok),
                     "diverged": int((group["status"] == Status.DIVERGED).sum()),
                     "pruned": int((group["status"] == Status.PRUNED).sum())}
        row["counted"] = row["seeds"] + row["diverged"] + row["pruned"]
        for col in columns:
            if col in ok:
                for key, value in describe(ok[col].dropna().to_numpy()).items():
                    row[f"{col}_{key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def ranking_order(summary: pd.DataFrame, column: str, higher_is_better: bool = True
                  ) -> pd.DataFrame:
    """Activations best first, by `ranking_mean`: the mean of `column` over counted seeds with
    each diverged or pruned seed at the worst finished value among all activations here (NaN
    when nothing finished); ties go to fewer worst seeds. Columns: activation, ranking_mean,
    worst (diverged + pruned seeds)."""
    counted = counted_trials(summary, column)
    if counted.empty:
        return pd.DataFrame(columns=["activation", "ranking_mean", "worst"])
    finished = counted.loc[~counted["worst"], column].astype(float)
    floor = (finished.min() if higher_is_better else finished.max()) if len(finished) else np.nan
    values = counted[column].astype(float).where(~counted["worst"], floor)
    frame = pd.DataFrame({"activation": counted["activation"], "value": values,
                          "worst": counted["worst"].astype(int)})
    order = frame.groupby("activation", sort=False).agg(ranking_mean=("value", "mean"),
                                                        worst=("worst", "sum")).reset_index()
    key = order["ranking_mean"] if higher_is_better else -order["ranking_mean"]
    order = order.assign(_key=-key).sort_values(["_key", "worst"], na_position="last",
                                                kind="stable")
    return order.drop(columns="_key").reset_index(drop=True)


@dataclass
class Comparison:
    """The best activation against one other. Signs: positive means the best is better."""

    activation: str
    best: str
    difference: float  # mean(best) - mean(activation) over finished seeds, sign as above
    p_value: float  # raw two-sided p-value; NaN when untestable (fewer than 2 seeds)
    p_adjusted: float  # Holm-adjusted over all testable comparisons against the best
    effect_size: float  # value of `effect`; NaN when undefined or a worst seed takes part
    effect: str  # D_Z (paired) or COHENS_D (unpaired); "" when untestable
    test: str  # PAIRED or UNPAIRED; "" when untestable
    n_best: int  # counted seeds of the best activation
    n_other: int  # counted seeds of this activation
    n_pairs: int  # seeds used by the paired test; 0 when unpaired
    p_floor: float = float("nan")  # the smallest p-value this test can give with these seeds
    worst_best: int = 0  # diverged or pruned seeds of the best among those compared
    worst_other: int = 0  # ... and of this activation

    @property
    def testable(self) -> bool:
        return bool(np.isfinite(self.p_value))

    @property
    def significant(self) -> bool:
        """Different from the best at ALPHA after Holm's correction."""
        return bool(self.p_adjusted < ALPHA)  # NaN (untestable) compares False


@dataclass
class RankingVerdict:
    """What the report says about the winner: who cannot be told apart from it."""

    best: str
    indistinguishable: list[str]  # testable, not significantly different after Holm
    distinguishable: list[str]  # significantly worse than the best after Holm
    untestable: list[str]  # fewer than 2 seeds on one side: cannot be told apart either
    test: str  # the test(s) used, e.g. PAIRED or "PAIRED and UNPAIRED"
    comparisons: list[Comparison]

    @property
    def best_group(self) -> list[str]:
        return best_group(self.comparisons, self.best)

    @property
    def p_floor(self) -> float:
        """The smallest raw p-value any comparison here could have given (NaN: none)."""
        floors = [c.p_floor for c in self.comparisons if c.testable]
        return min(floors) if floors else float("nan")


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, same order as given; NaN stays NaN and does not
    count in m. Monotone in the raw p-values and capped at 1."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="stable")]
    steps = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(steps)
    return adjusted


def paired_p_floor(n: int) -> float:
    """The smallest two-sided p the sign-flip test can give with n paired seeds: 2/2^n (and
    2/(PERMUTATIONS + 1) once it draws instead of enumerating)."""
    if n < 1:
        return float("nan")
    return min(1.0, max(2.0 / 2.0 ** n, 2.0 / (PERMUTATIONS + 1) if 2 ** n > PERMUTATIONS
                        else 0.0))


def unpaired_p_floor(n1: int, n2: int) -> float:
    """The smallest two-sided p the rank-sum permutation test can give: 2/C(n1 + n2, n1)."""
    if n1 < 1 or n2 < 1:
        return float("nan")
    splits = math.comb(n1 + n2, n1)
    return min(1.0, max(2.0 / splits, 2.0 / (PERMUTATIONS + 1) if splits > PERMUTATIONS
                        else 0.0))


def seeds_needed(comparisons: int, alpha: float = ALPHA) -> int:
    """Paired seeds without which not even the clearest comparison can be significant: Holm
    asks the smallest of `comparisons` p-values to be below alpha / comparisons."""
    n = 1
    while paired_p_floor(n) >= alpha / max(comparisons, 1):
        n += 1
    return n


def _without_float_noise(values: np.ndarray) -> np.ndarray:
    """Values rounded to RELATIVE_DIGITS digits of the largest finite one, so differences of
    float noise (0.93 - 0.92 against 0.91 - 0.90) tie and are not ranked apart; +-inf stays."""
    values = np.asarray(values, dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    rounded = np.round(values / scale, RELATIVE_DIGITS) * scale
    return np.where(np.isfinite(values), rounded, values)


def signed_rank_p(differences: np.ndarray) -> float:
    """Two-sided p of the sign-flip test on paired differences (signed-rank statistic); the
    differences may be +-inf (a worst seed on one side), not NaN."""
    d = _without_float_noise(differences)
    signed = np.sign(d) * stats.rankdata(np.abs(d))
    result = stats.permutation_test((signed,), _total, permutation_type="samples",
                                    vectorized=True, n_resamples=PERMUTATIONS,
                                    alternative="two-sided", rng=0)
    return float(result.pvalue)


def rank_sum_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p of the permutation test on pooled ranks (a, b may hold -inf: worst)."""
    ranks = stats.rankdata(_without_float_noise(np.concatenate([a, b])))
    result = stats.permutation_test((ranks[:len(a)], ranks[len(a):]), _mean_difference,
                                    permutation_type="independent", vectorized=True,
                                    n_resamples=PERMUTATIONS, alternative="two-sided", rng=0)
    return float(result.pvalue)


def _total(x: np.ndarray, axis: int) -> np.ndarray:
    return np.sum(x, axis=axis)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _goodness(frame: pd.DataFrame, column: str, sign: float) -> pd.Series:
    """Higher is better; a worst seed is -inf."""
    return (sign * frame[column].astype(float)).where(~frame["worst"], -np.inf)


def _pairs(best: pd.DataFrame, other: pd.DataFrame) -> list | None:
    """The common seeds in order, if both activations have the same counted seeds (>= 2)."""
    if "seed" not in best or "seed" not in other:
        return None
    b, o = best["seed"], other["seed"]
    if (b.hasnans or o.hasnans or not b.is_unique or not o.is_unique
            or set(b) != set(o) or len(b) < 2):
        return None
    return sorted(b)


def _paired(b: pd.Series, o: pd.Series) -> tuple[float, float]:
    """p of the sign-flip test and d_z (NaN with a worst seed or constant differences)."""
    with np.errstate(invalid="ignore"):
        d = np.array((b - o).to_numpy(float))
    d[np.isneginf(b.to_numpy()) & np.isneginf(o.to_numpy())] = 0.0  # both worst: a tie
    d = _without_float_noise(d)
    effect = float("nan")
    if np.isfinite(d).all() and np.ptp(d) > 0:
        effect = float(d.mean() / d.std(ddof=1))
    return signed_rank_p(d), effect


def _unpaired(b: np.ndarray, o: np.ndarray) -> tuple[float, float]:
    """p of the rank-sum permutation test and Cohen's d (NaN with a worst seed or no spread)."""
    effect = float("nan")
    if np.isfinite(b).all() and np.isfinite(o).all():
        pooled = np.sqrt((b.var(ddof=1) + o.var(ddof=1)) / 2)
        if pooled > 10.0 ** -RELATIVE_DIGITS * np.max(np.abs(np.concatenate([b, o]))):
            effect = float((b.mean() - o.mean()) / pooled)
    return rank_sum_p(b, o), effect


def compare_to_best(summary: pd.DataFrame, column: str, higher_is_better: bool = True
                    ) -> list[Comparison]:
    """The best activation (first in `ranking_order`) against each other one: the sign-flip
    test when their counted seeds pair up, else the rank-sum test; p-values Holm-adjusted."""
    counted = counted_trials(summary, column)
    order = ranking_order(summary, column, higher_is_better)
    if len(order) < 2:
        return []
    best = str(order["activation"].iloc[0])
    sign = 1.0 if higher_is_better else -1.0
    groups = dict(tuple(counted.groupby("activation", sort=False)))
    b_frame = groups[best]
    out = []
    for activation in order["activation"].iloc[1:]:
        frame = groups[activation]
        seeds = _pairs(b_frame, frame)
        if seeds is not None:
            b = _goodness(b_frame.set_index("seed"), column, sign).loc[seeds]
            o = _goodness(frame.set_index("seed"), column, sign).loc[seeds]
            p, effect_size = _paired(b, o)
            test, effect, n_pairs, floor = PAIRED, D_Z, len(seeds), paired_p_floor(len(seeds))
        elif len(b_frame) > 1 and len(frame) > 1:
            b, o = _goodness(b_frame, column, sign), _goodness(frame, column, sign)
            p, effect_size = _unpaired(b.to_numpy(), o.to_numpy())
            test, effect, n_pairs = UNPAIRED, COHENS_D, 0
            floor = unpaired_p_floor(len(b), len(o))
        else:  # a single seed on one side
            p, effect_size, floor = float("nan"), float("nan"), float("nan")
            test, effect, n_pairs = "", "", 0
        finished_b = b_frame.loc[~b_frame["worst"], column].astype(float)
        finished_o = frame.loc[~frame["worst"], column].astype(float)
        difference = float(sign * (finished_b.mean() - finished_o.mean())) \
            if len(finished_b) and len(finished_o) else float("nan")
        out.append(Comparison(str(activation), best, difference, p, float("nan"),
                              effect_size, effect, test, len(b_frame), len(frame), n_pairs,
                              floor, int(b_frame["worst"].sum()), int(frame["worst"].sum())))
    for comparison, adjusted in zip(out, holm([c.p_value for c in out]), strict=True):
        comparison.p_adjusted = float(adjusted)
    return out


def best_group(comparisons: list[Comparison], best: str) -> list[str]:
    """The best plus every activation not significantly different from it after Holm
    (untestable ones included: they cannot be told apart)."""
    return [best, *(c.activation for c in comparisons if not c.significant)]


def ranking_verdict(summary: pd.DataFrame, column: str, higher_is_better: bool = True
                    ) -> RankingVerdict | None:
    """Who wins, who cannot be told apart from the winner, who is clearly worse; None when no
    trial counts for `column`."""
    order = ranking_order(summary, column, higher_is_better)
    if order.empty:
        return None
    best = str(order["activation"].iloc[0])
    comparisons = compare_to_best(summary, column, higher_is_better)
    tests = list(dict.fromkeys(c.test for c in comparisons if c.testable))
    return RankingVerdict(
        best=best,
        indistinguishable=[c.activation for c in comparisons if c.testable and not c.significant],
        distinguishable=[c.activation for c in comparisons if c.significant],
        untestable=[c.activation for c in comparisons if not c.testable],
        test=" and ".join(tests),
        comparisons=comparisons,
    )


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's rho between two scores of the same candidates, with a confidence interval
    (None where fewer than MIN_CORRELATION_PAIRS or a score is constant)."""

    n: int
    rho: float | None
    low: float | None
    high: float | None

    @property
    def predicts(self) -> bool | None:
        """True when the interval lies above 0; None when there is no interval."""
        return None if self.low is None else self.low > 0


MIN_CORRELATION_PAIRS = 4  # the Fisher-z interval needs n > 3


def rank_correlation(x: Sequence[float], y: Sequence[float], level: float = 0.95
                     ) -> RankCorrelation:
    """Spearman's rho of paired scores and its interval by Fisher's z with Bonett and Wright's
    (2000) variance for Spearman's rho, (1 + rho^2 / 2) / (n - 3): better coverage than
    1 / (n - 3) for rank correlations, and as cheap (a bootstrap over 10,000 candidates would
    not be)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return RankCorrelation(n, None, None, None)
    rho = float(stats.spearmanr(x, y).statistic)
    if n < MIN_CORRELATION_PAIRS:
        return RankCorrelation(n, rho, None, None)
    z = math.atanh(min(max(rho, -0.999999), 0.999999))
    half = stats.norm.ppf(0.5 + level / 2) * math.sqrt((1 + rho ** 2 / 2) / (n - 3))
    return RankCorrelation(n, rho, math.tanh(z - half), math.tanh(z + half))


@dataclass(frozen=True)
class ScorePair:
    """Two scores of the same items (a search's candidates at two rungs) and their rank
    correlation."""

    first: str  # "rung 0"
    second: str  # "rung 1"
    x: list[float]
    y: list[float]
    correlation: RankCorrelation
