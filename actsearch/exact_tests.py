"""Exact, distribution-free tests on seeds and the intervals that invert them.

Numbers only, on arrays (many comparisons at once): the sign-flip test on paired differences
(signed ranks: the exact Wilcoxon signed-rank test, Pratt's zeros), the rank-sum permutation
test (exact Mann-Whitney), their p floors, Holm's adjustment, the Hodges-Lehmann shifts with
the intervals that invert the same tests, and Hsu's constrained intervals. Every sign pattern
or split is enumerated while there are at most PERMUTATIONS, else PERMUTATIONS random ones
(fixed seed; p counts the observed one, so it is never 0). actsearch.statistics turns trials
into comparisons with these.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

ALPHA = 0.05
PERMUTATIONS = 2 ** 13  # exact enumeration up to 13 paired seeds; random draws beyond
RELATIVE_DIGITS = 10  # differences below 1e-10 of the values compared are float noise


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


def paired_p_floor(n: int, sides: int = 2) -> float:
    """The smallest p the sign-flip test can give with n paired seeds: 2/2^n two-sided, 1/2^n
    one-sided (and sides/(PERMUTATIONS + 1) once it draws instead of enumerating)."""
    if n < 1:
        return float("nan")
    drawn = sides / (PERMUTATIONS + 1) if 2 ** n > PERMUTATIONS else 0.0
    return min(1.0, max(sides / 2.0 ** n, drawn))


def unpaired_p_floor(n1: int, n2: int, sides: int = 2) -> float:
    """The smallest p the rank-sum permutation test can give: 2/C(n1 + n2, n1) two-sided."""
    if n1 < 1 or n2 < 1:
        return float("nan")
    splits = math.comb(n1 + n2, n1)
    drawn = sides / (PERMUTATIONS + 1) if splits > PERMUTATIONS else 0.0
    return min(1.0, max(sides / splits, drawn))


def seeds_needed(comparisons: int, alpha: float = ALPHA, sides: int = 2) -> int:
    """Paired seeds without which not even the clearest comparison can be significant: the
    smallest of `comparisons` p-values must be below alpha / comparisons (Holm's first step,
    and MCB's Bonferroni over the rivals with sides=1)."""
    n = 1
    while paired_p_floor(n, sides) >= alpha / max(comparisons, 1):
        n += 1
    return n


def without_float_noise(values: np.ndarray) -> np.ndarray:
    """Values rounded to RELATIVE_DIGITS digits of the largest finite one, so differences of
    float noise (0.93 - 0.92 against 0.91 - 0.90) tie and are not ranked apart; +-inf stays."""
    values = np.asarray(values, dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    rounded = np.round(values / scale, RELATIVE_DIGITS) * scale
    return np.where(np.isfinite(values), rounded, values)


# --- the exact tests, many at once (rows of an array), as numbers ---------------------------

def _sign_patterns(n: int) -> tuple[np.ndarray, bool]:
    """Every sign pattern of n seeds (rows of +-1) when 2^n <= PERMUTATIONS, else
    PERMUTATIONS random ones (fixed seed); and whether they are all of them."""
    if 2 ** n <= PERMUTATIONS:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
        return 1.0 - 2.0 * bits, True
    return np.random.default_rng(0).choice([-1.0, 1.0], size=(PERMUTATIONS, n)), False


@functools.lru_cache(maxsize=64)
def _splits(n1: int, n2: int) -> tuple[np.ndarray, bool]:
    """Indicator rows (n1 + n2 columns, n1 ones) of every way to split the pooled seeds when
    there are at most PERMUTATIONS, else PERMUTATIONS random splits (fixed seed); cached, so
    read-only."""
    n = n1 + n2
    exact = math.comb(n, n1) <= PERMUTATIONS
    if exact:
        rows = np.zeros((math.comb(n, n1), n))
        for i, chosen in enumerate(itertools.combinations(range(n), n1)):
            rows[i, list(chosen)] = 1.0
    else:
        order = np.argsort(np.random.default_rng(0).random((PERMUTATIONS, n)), axis=1)
        rows = (order < n1).astype(float)
    rows.flags.writeable = False
    return rows, exact


def _p_from_null(observed: np.ndarray, null: np.ndarray, exact: bool, alternative: str
                 ) -> np.ndarray:
    """p of each row's observed statistic against its null draws (columns), as
    scipy.stats.permutation_test: exact counts, or (1 + count) / (1 + draws)."""
    tol = 1e-9 * np.maximum(1.0, np.abs(observed))[:, None]
    greater = (null >= observed[:, None] - tol).sum(axis=1)
    less = (null <= observed[:, None] + tol).sum(axis=1)
    return _p_from_counts(greater, less, null.shape[1], exact, alternative)


def _shared_null_p(observed: np.ndarray, null: np.ndarray, exact: bool, alternative: str
                   ) -> np.ndarray:
    """_p_from_null for rows that share one null distribution (no ties: the same ranks in
    every row), by sorted search instead of a row-by-draw comparison."""
    null = np.sort(null)
    tol = 1e-9 * np.maximum(1.0, np.abs(observed))
    greater = len(null) - np.searchsorted(null, observed - tol, side="left")
    less = np.searchsorted(null, observed + tol, side="right")
    return _p_from_counts(greater, less, len(null), exact, alternative)


def _p_from_counts(greater: np.ndarray, less: np.ndarray, draws: int, exact: bool,
                   alternative: str) -> np.ndarray:
    """p from the counts of null draws at least / at most the observed statistic."""
    if exact:
        p_greater, p_less = greater / draws, less / draws
    else:
        p_greater, p_less = (greater + 1) / (draws + 1), (less + 1) / (draws + 1)
    if alternative == "greater":
        return np.minimum(1.0, p_greater)
    if alternative == "less":
        return np.minimum(1.0, p_less)
    return np.minimum(1.0, 2 * np.minimum(p_greater, p_less))


def _same_ranks(ranks: np.ndarray) -> bool:
    """Do all rows hold the same multiset of ranks (then they share one null)?"""
    ordered = np.sort(ranks, axis=1)
    return bool(len(ranks) > 1 and (ordered == ordered[0]).all())


def _signed_ranks(d: np.ndarray) -> np.ndarray:
    """Per row: sign(d) * rank(|d|) (Pratt: zeros ranked, then count 0; +-inf the largest)."""
    rows = np.array([without_float_noise(row) for row in d]) if len(d) else d
    return np.sign(rows) * stats.rankdata(np.abs(rows), axis=1)


def sign_flip_p(d: np.ndarray, alternative: str = "two-sided") -> np.ndarray:
    """p of the exact sign-flip test on the signed ranks of each row of paired differences
    d (rows: comparisons, columns: seeds; +-inf allowed, no NaN). "greater": the first of the
    pair is better."""
    d = np.atleast_2d(np.asarray(d, dtype=float))
    signed = _signed_ranks(d)
    patterns, exact = _sign_patterns(d.shape[1])
    if _same_ranks(np.abs(signed)):  # every full set of patterns gives the same null
        return _shared_null_p(signed.sum(axis=1), patterns @ np.abs(signed[0]), exact,
                              alternative)
    null = np.abs(signed) @ patterns.T
    return _p_from_null(signed.sum(axis=1), null, exact, alternative)


def rank_sum_p_many(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided",
                    chunk: int = 256) -> np.ndarray:
    """p of the exact permutation test on pooled ranks, one per row of a (n1 seeds) and b
    (n2 seeds); -inf allowed (the worst). "greater": a is better."""
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    pooled = np.concatenate([a, b], axis=1)
    rows = np.array([without_float_noise(row) for row in pooled])
    ranks = stats.rankdata(rows, axis=1)
    split, exact = _splits(a.shape[1], b.shape[1])
    if _same_ranks(ranks):
        return _shared_null_p(ranks[:, :a.shape[1]].sum(axis=1), split @ np.sort(ranks[0]),
                              exact, alternative)
    out = np.empty(len(ranks))
    for start in range(0, len(ranks), chunk):
        part = ranks[start:start + chunk]
        out[start:start + chunk] = _p_from_null(part[:, :a.shape[1]].sum(axis=1),
                                                part @ split.T, exact, alternative)
    return out


def signed_rank_p(differences: np.ndarray, alternative: str = "two-sided") -> float:
    """p of the sign-flip test on paired differences (signed-rank statistic); the differences
    may be +-inf (a worst seed on one side), not NaN."""
    return float(sign_flip_p(np.asarray(differences, dtype=float)[None, :], alternative)[0])


def rank_sum_p(a: np.ndarray, b: np.ndarray, alternative: str = "two-sided") -> float:
    """p of the permutation test on pooled ranks (a, b may hold -inf: worst)."""
    return float(rank_sum_p_many(np.asarray(a, float)[None, :], np.asarray(b, float)[None, :],
                                 alternative)[0])


# --- the size of a difference: Hodges-Lehmann shifts and the intervals of the tests --------

@functools.lru_cache(maxsize=256)
def _signed_rank_tail(n: int) -> np.ndarray:
    """P(W >= t) for t = 0..n(n+1)/2, W the Wilcoxon signed-rank statistic of n seeds (no
    ties): the share of the 2^n sign patterns whose positive ranks sum to t or more."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[:-k].copy()
    return counts[::-1].cumsum()[::-1] / 2.0 ** n


@functools.lru_cache(maxsize=256)
def _rank_sum_tail(n1: int, n2: int) -> np.ndarray:
    """P(U >= t) for t = 0..n1 n2, U the Mann-Whitney count of (a_i > b_j) pairs (no ties)."""
    # counts[i][j] = frequencies of U for sizes i, j: U(i, j) = U(i - 1, j) + j or U(i, j - 1)
    table = [[np.ones(1) for _ in range(n2 + 1)] for _ in range(n1 + 1)]
    for i in range(1, n1 + 1):
        for j in range(1, n2 + 1):
            counts = np.zeros(i * j + 1)
            counts[j:j + (i - 1) * j + 1] += table[i - 1][j]
            counts[:i * (j - 1) + 1] += table[i][j - 1]
            table[i][j] = counts
    counts = table[n1][n2]
    return counts[::-1].cumsum()[::-1] / counts.sum()


def _bounds_from(values: np.ndarray, tail: np.ndarray, alpha_one: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the interval inverting a one-sided test at alpha_one on each side: the c-th
    smallest and c-th largest of the row's values (Walsh averages or pairwise differences),
    where the test rejects a shift delta once #{values > delta} >= t, t the smallest count
    with P(T >= t) <= alpha_one, c = N + 1 - t; +-inf when the seeds cannot reach
    alpha_one."""
    values = np.sort(values, axis=1)
    m, n = values.shape
    reachable = np.flatnonzero(tail <= alpha_one * (1 + 1e-9))
    if not n or not reachable.size or n + 1 - int(reachable[0]) < 1:
        return np.full(m, -math.inf), np.full(m, math.inf)
    c = n + 1 - int(reachable[0])
    return values[:, c - 1], values[:, n - c]


def _no_nan(values: np.ndarray) -> np.ndarray:
    """inf - inf (a worst seed on both sides of a difference) is a tie: 0."""
    return np.where(np.isnan(values), 0.0, values)


def paired_shifts(d: np.ndarray, alpha_one: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of paired differences d (rows: comparisons, columns: seeds): the
    Hodges-Lehmann shift (the median of the Walsh averages) and the interval that inverts the
    exact sign-flip test, alpha_one each side."""
    d = np.atleast_2d(np.asarray(d, dtype=float))
    i, j = np.triu_indices(d.shape[1])
    with np.errstate(invalid="ignore"):
        walsh = _no_nan((d[:, i] + d[:, j]) / 2)
    low, high = _bounds_from(walsh, _signed_rank_tail(d.shape[1]), alpha_one)
    return np.median(walsh, axis=1), low, high


def unpaired_shifts(a: np.ndarray, b: np.ndarray, alpha_one: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of a (n1 seeds) against b (n2 seeds): the Hodges-Lehmann shift (the median of
    the pairwise differences) and the interval that inverts the exact rank-sum test,
    alpha_one each side."""
    a, b = np.atleast_2d(np.asarray(a, float)), np.atleast_2d(np.asarray(b, float))
    with np.errstate(invalid="ignore"):
        diffs = _no_nan((a[:, :, None] - b[:, None, :]).reshape(len(a), -1))
    low, high = _bounds_from(diffs, _rank_sum_tail(a.shape[1], b.shape[1]), alpha_one)
    return np.median(diffs, axis=1), low, high


def paired_shift(d: np.ndarray, alpha_one: float) -> tuple[float, float, float]:
    """(Hodges-Lehmann shift, low, high) of one comparison's paired differences."""
    shift, low, high = paired_shifts(without_float_noise(d)[None, :], alpha_one)
    return float(shift[0]), float(low[0]), float(high[0])


def unpaired_shift(a: np.ndarray, b: np.ndarray, alpha_one: float
                   ) -> tuple[float, float, float]:
    """(Hodges-Lehmann shift, low, high) of a against b, one comparison."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    noise = without_float_noise(np.concatenate([a, b]))
    shift, low, high = unpaired_shifts(noise[None, :len(a)], noise[None, len(a):], alpha_one)
    return float(shift[0]), float(low[0]), float(high[0])


def constrained_intervals(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hsu's constrained MCB intervals from pairwise bounds (..., K, K): low[i, j] and
    high[i, j] bound theta_i - theta_j (diagonal ignored); returns the intervals of
    theta_i - max_{j != i} theta_j: [min(0, min_j low_ij), max(0, min_j high_ij)]."""
    k = low.shape[-1]
    off = ~np.eye(k, dtype=bool)
    lows = np.where(off, low, np.inf).min(axis=-1)
    highs = np.where(off, high, np.inf).min(axis=-1)
    return np.minimum(0.0, lows), np.maximum(0.0, highs)
