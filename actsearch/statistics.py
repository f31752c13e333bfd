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

Which differences are claimed, with a family-wise error of at most ALPHA:
- statistics.reference set (an activation named before the data were seen, e.g. the
  article's relu): each other activation against it, two-sided, Holm's step-down method over
  the family (compare_to_reference);
- else Hsu's multiple comparisons with the best (MCB): each activation against the best of
  the others, with constrained intervals; an activation is excluded (some other one is at
  least as good) when a rival beats it one-sided at ALPHA / (K - 1). Picking the best by mean
  and testing it against the rest at ALPHA would not hold: the best is chosen on the same
  seeds (7.5-7.9% family-wise error with 6 equal activations and 8 seeds).
The tests are exact permutation tests on ranks, valid for any distribution:
- seeds paired (both activations have the same counted seeds; same seed = same initial
  weights, split and batch order): the sign-flip test on the paired differences with the
  signed-rank statistic (the exact Wilcoxon signed-rank test, Pratt's treatment of zero
  differences). With n seeds every one of the 2^n sign patterns is enumerated (n <= 13), so
  a two-sided p is never below 2/2^n: 0.5 with 2 seeds, 0.25 with 3, 0.0625 with 5. A worst
  seed is a difference of infinite size, the largest rank;
- seeds not paired (a seed failed or is missing on one side): the permutation test on the
  pooled ranks (the exact Mann-Whitney rank-sum test), p never below 2/C(n1 + n2, n1).
Beyond exact enumeration both draw PERMUTATIONS random permutations (fixed seed; p counts the
observed one, so it is never 0). Every comparison has a size: the Hodges-Lehmann shift (the
median of the Walsh averages, paired; of the pairwise differences, unpaired) and the interval
that inverts the same test (exact when no values tie); the intervals are simultaneous at
1 - ALPHA (Bonferroni for the reference, MCB's construction otherwise), unbounded (+-inf)
where the seeds cannot reach the level. Effect sizes (d_z paired, Cohen's d unpaired) use the
finished values and are left out when a worst seed takes part. Intervals of a mean are
t-intervals cut to what the metric can be (metric_range): the true mean is in that range, so
the cut interval covers it exactly as often.

This module computes numbers only; the sentences belong to the report.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from actsearch.exact_tests import (
    ALPHA,
    RELATIVE_DIGITS,
    constrained_intervals,
    holm,
    paired_p_floor,
    paired_shift,
    rank_sum_p,
    signed_rank_p,
    unpaired_p_floor,
    unpaired_shift,
    without_float_noise,
)
from actsearch.trials import Status

MCB = "Hsu's multiple comparisons with the best"
REFERENCE = "against the reference, Holm"
PAIRED = "paired sign-flip test (signed ranks)"
UNPAIRED = "rank-sum permutation test"
COHENS_D = "Cohen's d"  # mean difference / pooled standard deviation (unpaired)
D_Z = "d_z"  # mean difference / standard deviation of the paired differences
COUNTED = (Status.OK, Status.DIVERGED, Status.PRUNED)
WORST = (Status.DIVERGED, Status.PRUNED)  # counted as the worst outcome


def describe(values: np.ndarray, bounds: tuple[float, float] = (-math.inf, math.inf)
             ) -> dict[str, float]:
    """Mean, sample standard deviation and a 95% t-interval cut to `bounds`, what the metric
    can be (NaN where undefined)."""
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
    if n > 1:
        low, high = max(low, bounds[0]), min(high, bounds[1])
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
    (the three together), and mean/std/CI of each column over the finished trials (the CI
    inside what the column can be: metric_range)."""
    rows = []
    for activation, group in summary.groupby("activation", sort=False):
        ok = group[group["status"] == Status.OK]
        row: dict = {"activation": activation, "seeds": len(ok),
                     "diverged": int((group["status"] == Status.DIVERGED).sum()),
                     "pruned": int((group["status"] == Status.PRUNED).sum())}
        row["counted"] = row["seeds"] + row["diverged"] + row["pruned"]
        for col in columns:
            if col in ok:
                values = ok[col].dropna().to_numpy()
                for key, value in describe(values, metric_range(col)).items():
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
    """One activation against the anchor: the best by mean (Hsu's MCB) or the reference fixed
    in advance (statistics.reference). `difference` and `effect_size`: positive means the
    anchor is better; `shift`, `low` and `high`: positive means this activation is better."""

    activation: str
    best: str  # the anchor: the best by mean (MCB) or statistics.reference
    difference: float  # mean(anchor) - mean(activation) over finished seeds, sign as above
    p_value: float  # REFERENCE: raw two-sided p; MCB: one-sided p of the rival that beats this
    #                 activation most clearly; NaN when untestable (fewer than 2 seeds)
    p_adjusted: float  # REFERENCE: Holm over the family; MCB: Bonferroni over the K - 1 rivals
    effect_size: float  # value of `effect`; NaN when undefined or a worst seed takes part
    effect: str  # D_Z (paired) or COHENS_D (unpaired); "" when untestable
    test: str  # PAIRED or UNPAIRED; "" when untestable
    n_best: int  # counted seeds of the anchor
    n_other: int  # counted seeds of this activation
    n_pairs: int  # seeds used by the paired test; 0 when unpaired
    p_floor: float = float("nan")  # the smallest p_value this test can give with these seeds
    worst_best: int = 0  # diverged or pruned seeds of the anchor among those compared
    worst_other: int = 0  # ... and of this activation
    shift: float = float("nan")  # Hodges-Lehmann estimate of activation - anchor
    low: float = float("nan")  # simultaneous 95% interval: REFERENCE activation - reference;
    high: float = float("nan")  # MCB activation - the best of the others (+-inf: unbounded)
    procedure: str = ""  # MCB or REFERENCE
    rival: str = ""  # MCB: the activation with the smallest one-sided p against this one
    #                  (descriptive: MCB claims only that some activation is at least as good)

    @property
    def testable(self) -> bool:
        return bool(np.isfinite(self.p_value))

    @property
    def significant(self) -> bool:
        """REFERENCE: different from the reference (Holm); MCB: excluded from the best (some
        other activation is at least as good). NaN (untestable) compares False."""
        return bool(self.p_adjusted < ALPHA)


@dataclass
class RankingVerdict:
    """What the report says about the winner: who cannot be told apart from the anchor."""

    best: str  # the best by mean
    indistinguishable: list[str]  # testable, not significant (MCB: may be the best)
    distinguishable: list[str]  # significant (MCB: excluded from the best)
    untestable: list[str]  # fewer than 2 seeds on one side: cannot be told apart either
    test: str  # the test(s) used, e.g. PAIRED or "PAIRED and UNPAIRED"
    comparisons: list[Comparison]
    procedure: str = ""  # MCB or REFERENCE
    reference: str | None = None  # statistics.reference, when set and present
    best_low: float = float("nan")  # MCB: the best's interval for its lead over the others
    best_high: float = float("nan")

    @property
    def anchor(self) -> str:
        return self.reference or self.best

    @property
    def best_group(self) -> list[str]:
        return best_group(self.comparisons, self.anchor)

    @property
    def p_floor(self) -> float:
        """The smallest p_value any comparison here could have given (NaN: none)."""
        floors = [c.p_floor for c in self.comparisons if c.testable]
        return min(floors) if floors else float("nan")


# --- from trials to comparisons ------------------------------------------------------------

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


def _differences(b: np.ndarray, o: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        d = np.asarray(b, dtype=float) - np.asarray(o, dtype=float)
    d[np.isneginf(b) & np.isneginf(o)] = 0.0  # both worst: a tie
    return without_float_noise(d)


def _d_z(d: np.ndarray) -> float:
    """d_z (NaN with a worst seed or constant differences)."""
    if np.isfinite(d).all() and np.ptp(d) > 0:
        return float(d.mean() / d.std(ddof=1))
    return float("nan")


def _cohens_d(b: np.ndarray, o: np.ndarray) -> float:
    """Cohen's d (NaN with a worst seed or no spread)."""
    if np.isfinite(b).all() and np.isfinite(o).all():
        pooled = np.sqrt((b.var(ddof=1) + o.var(ddof=1)) / 2)
        if pooled > 10.0 ** -RELATIVE_DIGITS * np.max(np.abs(np.concatenate([b, o]))):
            return float((b.mean() - o.mean()) / pooled)
    return float("nan")


@dataclass
class _Pair:
    """Two activations' counted seeds, matched by seed when they pair up (goodness: higher
    is better, a worst seed -inf)."""

    a: np.ndarray
    b: np.ndarray
    paired: bool

    @property
    def testable(self) -> bool:
        return self.paired or (len(self.a) > 1 and len(self.b) > 1)

    def p(self, alternative: str) -> float:
        """a against b; "greater": a is better."""
        if not self.testable:
            return float("nan")
        if self.paired:
            return signed_rank_p(self.d, alternative)
        return rank_sum_p(self.a, self.b, alternative)

    @functools.cached_property
    def d(self) -> np.ndarray:
        """The paired differences a - b (a worst seed on both sides: 0)."""
        return _differences(self.a, self.b)

    def shift(self, alpha_one: float) -> tuple[float, float, float]:
        """HL shift of a - b and its interval, alpha_one each side."""
        if not self.testable:
            return float("nan"), -math.inf, math.inf
        if self.paired:
            return paired_shift(self.d, alpha_one)
        return unpaired_shift(self.a, self.b, alpha_one)

    def floor(self, sides: int) -> float:
        if not self.testable:
            return float("nan")
        return paired_p_floor(len(self.a), sides) if self.paired else \
            unpaired_p_floor(len(self.a), len(self.b), sides)

    def effect(self) -> tuple[float, str]:
        if not self.testable:
            return float("nan"), ""
        if self.paired:
            return _d_z(self.d), D_Z
        return _cohens_d(self.a, self.b), COHENS_D


def _pair(a_frame: pd.DataFrame, b_frame: pd.DataFrame, column: str, sign: float) -> _Pair:
    seeds = _pairs(a_frame, b_frame)
    if seeds is not None:
        a = _goodness(a_frame.set_index("seed"), column, sign).loc[seeds]
        b = _goodness(b_frame.set_index("seed"), column, sign).loc[seeds]
        return _Pair(a.to_numpy(float), b.to_numpy(float), True)
    return _Pair(_goodness(a_frame, column, sign).to_numpy(float),
                 _goodness(b_frame, column, sign).to_numpy(float), False)


def _base(activation: str, anchor: str, pair: _Pair, frames: dict, column: str, sign: float,
          procedure: str) -> Comparison:
    """The fields every procedure shares: means, effect size, test, counts (pair: anchor
    against activation)."""
    fa, fo = frames[anchor], frames[activation]
    finished_a = fa.loc[~fa["worst"], column].astype(float)
    finished_o = fo.loc[~fo["worst"], column].astype(float)
    difference = float(sign * (finished_a.mean() - finished_o.mean())) \
        if len(finished_a) and len(finished_o) else float("nan")
    effect_size, effect = pair.effect()
    test = "" if not pair.testable else PAIRED if pair.paired else UNPAIRED
    return Comparison(activation, anchor, difference, float("nan"), float("nan"), effect_size,
                      effect, test, len(fa), len(fo), len(pair.a) if pair.paired else 0,
                      worst_best=int(fa["worst"].sum()), worst_other=int(fo["worst"].sum()),
                      procedure=procedure)


def compare_to_reference(summary: pd.DataFrame, column: str, reference: str,
                         higher_is_better: bool = True, alpha: float = ALPHA
                         ) -> list[Comparison]:
    """Each activation against a reference fixed before the data were seen: the exact
    sign-flip (paired) or rank-sum test, two-sided, Holm over the family (strong control of
    the family-wise error); each with the Hodges-Lehmann shift and a simultaneous
    (Bonferroni) 1 - alpha interval of activation - reference."""
    counted = counted_trials(summary, column)
    order = ranking_order(summary, column, higher_is_better)
    if reference not in set(order["activation"]) or len(order) < 2:
        return []
    sign = 1.0 if higher_is_better else -1.0
    frames = dict(tuple(counted.groupby("activation", sort=False)))
    others = [str(a) for a in order["activation"] if a != reference]
    pairs = {a: _pair(frames[reference], frames[a], column, sign) for a in others}
    m = max(1, sum(p.testable for p in pairs.values()))
    out = []
    for activation in others:
        pair = pairs[activation]
        c = _base(activation, reference, pair, frames, column, sign, REFERENCE)
        c.p_value, c.p_floor = pair.p("two-sided"), pair.floor(2)
        shift, low, high = pair.shift(alpha / (2 * m))
        c.shift, c.low, c.high = -shift, -high, -low  # activation - reference
        out.append(c)
    for comparison, adjusted in zip(out, holm([c.p_value for c in out]), strict=True):
        comparison.p_adjusted = float(adjusted)
    return out


def multiple_comparisons_with_the_best(summary: pd.DataFrame, column: str,
                                       higher_is_better: bool = True, alpha: float = ALPHA
                                       ) -> tuple[list[Comparison], tuple[float, float]]:
    """Hsu's multiple comparisons with the best, with exact tests: each activation i against
    the best of the others, theta_i - max_{j != i} theta_j, in the constrained interval
    [min(0, min_j L_ij), max(0, min_j U_ij)], L and U the bounds of theta_i - theta_j from
    the exact sign-flip (paired) or rank-sum test at alpha / (K - 1) each side (Bonferroni
    over the K - 1 rivals, so the comparisons with the unknown true best hold jointly with
    probability >= 1 - alpha, whichever it is). i is excluded (not the best: some other is at
    least as good) when a rival beats it at one-sided alpha / (K - 1). Returns the
    comparisons of the others with the best by mean, and the best's own interval."""
    counted = counted_trials(summary, column)
    order = ranking_order(summary, column, higher_is_better)
    if len(order) < 2:
        return [], (float("nan"), float("nan"))
    sign = 1.0 if higher_is_better else -1.0
    frames = dict(tuple(counted.groupby("activation", sort=False)))
    names = [str(a) for a in order["activation"]]
    best, rivals = names[0], len(names) - 1
    alpha_one = alpha / rivals
    # (p, rival, the smallest p their seeds allow) of each rival beating an activation
    beaten: dict[str, list[tuple[float, str, float]]] = {n: [] for n in names}
    pairs: dict[tuple[str, str], _Pair] = {}
    shifts: dict[tuple[str, str], float] = {}
    low = np.zeros((len(names), len(names)))  # low[i, j], high[i, j] bound theta_i - theta_j
    high = np.zeros_like(low)
    for (i, x), (j, y) in itertools.combinations(enumerate(names), 2):
        pair = pairs[x, y] = _pair(frames[x], frames[y], column, sign)
        shifts[x, y], low[i, j], high[i, j] = pair.shift(alpha_one)
        low[j, i], high[j, i] = -high[i, j], -low[i, j]
        floor = pair.floor(1)
        beaten[y].append((pair.p("greater"), x, floor))  # x better than y
        beaten[x].append((pair.p("less"), y, floor))
    mcb_low, mcb_high = constrained_intervals(low, high)

    def interval(i: str) -> tuple[float, float]:
        return float(mcb_low[names.index(i)]), float(mcb_high[names.index(i)])

    out = []
    for activation in names[1:]:
        pair = pairs[best, activation]
        c = _base(activation, best, pair, frames, column, sign, MCB)
        c.shift = -shifts[best, activation]
        tests = [t for t in beaten[activation] if np.isfinite(t[0])]
        if tests:
            c.p_value, c.rival, _ = min(tests, key=lambda t: t[0])  # the earliest on ties
            c.p_adjusted = min(1.0, rivals * c.p_value)
            c.p_floor = min(floor for _, _, floor in tests)
        c.low, c.high = interval(activation)
        if c.significant:
            c.high = 0.0
        out.append(c)
    return out, interval(best)


def compare_to_best(summary: pd.DataFrame, column: str, higher_is_better: bool = True,
                    reference: str | None = None) -> list[Comparison]:
    """Against `reference` when given and present (compare_to_reference), else Hsu's MCB
    against the best by mean (multiple_comparisons_with_the_best): ranking_verdict's
    comparisons."""
    verdict = ranking_verdict(summary, column, higher_is_better, reference)
    return verdict.comparisons if verdict is not None else []


def best_group(comparisons: list[Comparison], best: str) -> list[str]:
    """The anchor plus every activation not significantly different from it (untestable ones
    included: they cannot be told apart); under MCB, the activations that may be the best."""
    return [best, *(c.activation for c in comparisons if not c.significant)]


def ranking_verdict(summary: pd.DataFrame, column: str, higher_is_better: bool = True,
                    reference: str | None = None) -> RankingVerdict | None:
    """Who wins, who cannot be told apart from the winner (or the reference), who is clearly
    worse; None when no trial counts for `column`."""
    order = ranking_order(summary, column, higher_is_better)
    if order.empty:
        return None
    best = str(order["activation"].iloc[0])
    present = reference is not None and reference in set(order["activation"])
    best_interval = (float("nan"), float("nan"))
    if present:
        comparisons = compare_to_reference(summary, column, reference, higher_is_better)
    else:
        comparisons, best_interval = multiple_comparisons_with_the_best(summary, column,
                                                                        higher_is_better)
    tests = list(dict.fromkeys(c.test for c in comparisons if c.testable))
    return RankingVerdict(
        best=best,
        indistinguishable=[c.activation for c in comparisons if c.testable and not c.significant],
        distinguishable=[c.activation for c in comparisons if c.significant],
        untestable=[c.activation for c in comparisons if not c.testable],
        test=" and ".join(tests),
        comparisons=comparisons,
        procedure=REFERENCE if present else MCB,
        reference=reference if present else None,
        best_low=best_interval[0], best_high=best_interval[1],
    )


@dataclass
class ClaimBounds:
    """How far the best candidate can be ahead of the best baseline: Delta = max_c theta_c -
    max_b theta_b lies in [low, high] with probability >= 1 - alpha (+-inf: unbounded)."""

    low: float
    high: float
    candidate: str | None  # the candidate that beats every baseline when low > 0
    missing: list[str]  # baselines with no counted trial (all failed, or never run)
    untestable: list[str]  # baselines with too few seeds to test against

    @property
    def beats(self) -> bool:
        return self.low > 0 and not self.missing and not self.untestable


def claim_bounds(summary: pd.DataFrame, column: str, candidates: list[str],
                 baselines: list[str], higher_is_better: bool = True, alpha: float = ALPHA
                 ) -> ClaimBounds:
    """Bounds on the lead of the best candidate over the best baseline, without knowing
    either: for the true best baseline b*, the one-sided lower bounds of theta_c - theta_b*
    over the candidates hold jointly (Bonferroni, alpha/2 over them), so Delta >= max_c min_b
    L_cb; for the true best candidate c*, the upper bounds of theta_c* - theta_b over the
    baselines hold jointly (alpha/2 over them), so Delta <= max_c min_b U_cb. Exact sign-flip
    or rank-sum intervals; the candidate named is the one whose lower bound is largest."""
    counted = counted_trials(summary, column)
    present = set(counted["activation"])
    missing = [b for b in baselines if b not in present]
    tried = [c for c in candidates if c in present]
    found = [b for b in baselines if b in present]
    if not tried or not found:
        return ClaimBounds(-math.inf, math.inf, None, missing, [])
    sign = 1.0 if higher_is_better else -1.0
    frames = dict(tuple(counted.groupby("activation", sort=False)))
    lows, highs, untestable = {}, {}, set()
    for c in tried:
        row_low, row_high = [], []
        for b in found:
            pair = _pair(frames[c], frames[b], column, sign)
            if not pair.testable:
                untestable.add(b)
            row_low.append(pair.shift(alpha / (2 * len(tried)))[1])
            row_high.append(pair.shift(alpha / (2 * len(found)))[2])
        lows[c], highs[c] = min(row_low), min(row_high)
    named = max(tried, key=lambda c: lows[c])
    return ClaimBounds(lows[named], max(highs.values()), named if lows[named] > 0 else None,
                       missing, [b for b in found if b in untestable])


def metric_range(column: str) -> tuple[float, float]:
    """What a metric can be: accuracies in [0, 1], losses >= 0, else anything."""
    if "accuracy" in column:
        return 0.0, 1.0
    if "loss" in column:
        return 0.0, math.inf
    return -math.inf, math.inf


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
