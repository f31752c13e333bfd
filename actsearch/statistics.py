"""How sure is the ranking? Per-activation statistics over seeds, and tests against the best.

Seeds are the unit of replication: each finished (non-diverged) trial gives one number
per activation. Intervals use Student's t (few seeds). The best activation (by mean) is
compared with each other one by a paired t-test when their seeds pair up (same seed = same
data order and split, so the pairing removes the seed's share of the noise), else by Welch's
t-test (no equal-variance assumption). Because the best is tested against every other
activation, the p-values are adjusted by Holm's step-down method (family-wise error at
ALPHA) and only the adjusted p-value decides significance.

This module computes numbers only; the sentences belong to the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from actsearch.trials import Status

ALPHA = 0.05
PAIRED = "paired t-test"
WELCH = "Welch's t-test"
COHENS_D = "Cohen's d"  # mean difference / pooled standard deviation (Welch)
D_Z = "d_z"  # mean difference / standard deviation of the paired differences
# Differences smaller than this (relative to the numbers compared) are float noise, not data.
_RELATIVE_TOLERANCE = 1e-12


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


def aggregate(summary: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per activation: seeds (ok trials), diverged and pruned counts, mean/std/CI
    of each column over the ok trials."""
    rows = []
    for activation, group in summary.groupby("activation", sort=False):
        ok = group[group["status"] == Status.OK]
        row: dict = {"activation": activation, "seeds": len(ok),
                     "diverged": int((group["status"] == Status.DIVERGED).sum()),
                     "pruned": int((group["status"] == Status.PRUNED).sum())}
        for col in columns:
            if col in ok:
                for key, value in describe(ok[col].dropna().to_numpy()).items():
                    row[f"{col}_{key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Comparison:
    """The best activation against one other. Signs: positive means the best is better."""

    activation: str
    best: str
    difference: float  # mean(best) - mean(activation) in the column's units, sign as above
    p_value: float  # raw two-sided p-value; NaN when untestable (fewer than 2 seeds)
    p_adjusted: float  # Holm-adjusted over all testable comparisons against the best
    effect_size: float  # value of `effect`; NaN when the spread is zero
    effect: str  # COHENS_D (Welch) or D_Z (paired); "" when untestable
    test: str  # PAIRED or WELCH; "" when untestable
    n_best: int  # seeds of the best activation used
    n_other: int  # seeds of this activation used
    n_pairs: int  # seeds used by the paired test; 0 for Welch

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
    test: str  # the test(s) used, e.g. "paired t-test" or "paired t-test and Welch's t-test"
    comparisons: list[Comparison]

    @property
    def best_group(self) -> list[str]:
        return best_group(self.comparisons, self.best)


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


def _ok_values(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    if column not in summary:  # no trial got that far (all failed)
        return summary.iloc[0:0]
    return summary[summary["status"] == Status.OK].dropna(subset=[column])


def _best(ok: pd.DataFrame, column: str, higher_is_better: bool) -> str | None:
    if ok.empty:
        return None
    means = ok.groupby("activation", sort=False)[column].mean()
    return str(means.idxmax() if higher_is_better else means.idxmin())


def _pairs(best: pd.DataFrame, other: pd.DataFrame, column: str
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """Both activations' values in seed order, if their seeds pair up one to one (>= 2)."""
    if "seed" not in best or "seed" not in other:
        return None
    b, o = best.set_index("seed")[column], other.set_index("seed")[column]
    if (b.index.hasnans or o.index.hasnans or not b.index.is_unique or not o.index.is_unique
            or set(b.index) != set(o.index) or len(b) < 2):
        return None
    seeds = sorted(b.index)
    return b.loc[seeds].to_numpy(float), o.loc[seeds].to_numpy(float)


def _constant_outcome(spread: float, mean_difference: float, scale: float) -> float | None:
    """p for the degenerate case of zero spread, None otherwise. scipy gives NaN (and a
    warning) for 0/0. Deliberate choice: no difference at all gives p = 1; a constant nonzero
    difference gives p = 0, since every seed agrees on the sign and size."""
    tolerance = _RELATIVE_TOLERANCE * max(scale, 1e-300)
    if spread > tolerance:
        return None
    return 1.0 if abs(mean_difference) <= tolerance else 0.0


def _paired(b: np.ndarray, o: np.ndarray, sign: float) -> tuple[float, float]:
    """p-value and d_z of a paired t-test; d_z is NaN when the differences are constant."""
    diffs = sign * (b - o)
    scale = float(np.max(np.abs(np.concatenate([b, o]))))
    p = _constant_outcome(float(np.ptp(diffs)), float(diffs.mean()), scale)
    if p is not None:
        return p, float("nan")
    return float(stats.ttest_rel(b, o).pvalue), float(diffs.mean() / diffs.std(ddof=1))


def _welch(b: np.ndarray, o: np.ndarray, sign: float) -> tuple[float, float]:
    """p-value of Welch's t-test and Cohen's d (pooled sd); d is NaN when both are constant."""
    diff = sign * (b.mean() - o.mean())
    scale = float(np.max(np.abs(np.concatenate([b, o]))))
    p = _constant_outcome(max(float(np.ptp(b)), float(np.ptp(o))), float(diff), scale)
    if p is not None:
        return p, float("nan")
    pooled = np.sqrt((b.var(ddof=1) + o.var(ddof=1)) / 2)
    return float(stats.ttest_ind(b, o, equal_var=False).pvalue), float(diff / pooled)


def compare_to_best(summary: pd.DataFrame, column: str, higher_is_better: bool = True
                    ) -> list[Comparison]:
    """The best activation (by mean of `column` over its "ok" trials) against each other one:
    paired t-test when their seeds pair up, else Welch's; p-values Holm-adjusted together."""
    ok = _ok_values(summary, column)
    best = _best(ok, column, higher_is_better)
    groups = dict(tuple(ok.groupby("activation", sort=False)))
    if best is None or len(groups) < 2:
        return []
    sign = 1.0 if higher_is_better else -1.0
    b_frame = groups[best]
    b_all = b_frame[column].to_numpy(float)
    out = []
    for activation, frame in groups.items():
        if activation == best:
            continue
        o_all = frame[column].to_numpy(float)
        pairs = _pairs(b_frame, frame, column)
        if pairs is not None:
            p, effect_size = _paired(*pairs, sign)
            test, effect, n_pairs = PAIRED, D_Z, len(pairs[0])
        elif len(b_all) > 1 and len(o_all) > 1:
            p, effect_size = _welch(b_all, o_all, sign)
            test, effect, n_pairs = WELCH, COHENS_D, 0
        else:  # a single seed on one side
            p, effect_size = float("nan"), float("nan")
            test, effect, n_pairs = "", "", 0
        out.append(Comparison(str(activation), best, float(sign * (b_all.mean() - o_all.mean())),
                              p, float("nan"), effect_size, effect, test,
                              len(b_all), len(o_all), n_pairs))
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
    trial has a value in `column`."""
    best = _best(_ok_values(summary, column), column, higher_is_better)
    if best is None:
        return None
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
