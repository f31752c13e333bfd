"""How sure is the ranking? Per-activation statistics over seeds, and tests against the best.

Seeds are the unit of replication: each finished (non-diverged) trial gives one number
per activation. Intervals use Student's t (few seeds), comparisons Welch's t-test (no
equal-variance assumption) with Cohen's d as the effect size, all from scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05


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
    """One row per activation: seeds, diverged count, mean/std/CI of each column; ranked."""
    rows = []
    for activation, group in summary.groupby("activation", sort=False):
        ok = group[group["status"] == "ok"]
        row: dict = {"activation": activation, "seeds": len(ok),
                     "diverged": int((group["status"] == "diverged").sum())}
        for col in columns:
            if col in ok:
                for key, value in describe(ok[col].dropna().to_numpy()).items():
                    row[f"{col}_{key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Comparison:
    activation: str
    best: str
    difference: float  # mean(best) - mean(activation), in the column's units
    p_value: float
    cohens_d: float
    n_best: int
    n_other: int

    @property
    def significant(self) -> bool:
        return bool(self.p_value < ALPHA)

    def sentence(self, unit_scale: float = 100.0, unit: str = "pp") -> str:
        diff = f"{self.difference * unit_scale:+.2f} {unit}"
        if np.isnan(self.p_value):
            verdict = "not testable (needs at least 2 seeds each)"
        elif self.significant:
            verdict = f"significant at the 5% level (p = {self.p_value:.3g})"
        else:
            verdict = f"not significant at {min(self.n_best, self.n_other)} seeds " \
                      f"(p = {self.p_value:.2g})"
        effect = "" if np.isnan(self.cohens_d) else f"effect size d = {self.cohens_d:.2f}, "
        return f"{self.best} vs {self.activation}: difference {diff}, {effect}{verdict}"


def compare_to_best(summary: pd.DataFrame, column: str, higher_is_better: bool = True
                    ) -> list[Comparison]:
    """Welch's t-test of the best activation (by mean) against each other one."""
    if column not in summary:  # no trial got that far (all failed)
        return []
    ok = summary[summary["status"] == "ok"].dropna(subset=[column])
    groups = {a: g[column].to_numpy(float) for a, g in ok.groupby("activation", sort=False)}
    if len(groups) < 2:
        return []
    means = {a: v.mean() for a, v in groups.items()}
    best = max(means, key=means.get) if higher_is_better else min(means, key=means.get)
    out = []
    for activation, values in groups.items():
        if activation == best:
            continue
        b = groups[best]
        if len(b) > 1 and len(values) > 1:
            test = stats.ttest_ind(b, values, equal_var=False)
            p_value = float(test.pvalue) if np.isfinite(test.pvalue) else 1.0
            pooled = np.sqrt((b.var(ddof=1) + values.var(ddof=1)) / 2)
            d = float((b.mean() - values.mean()) / pooled) if pooled > 0 else float("nan")
        else:
            p_value, d = float("nan"), float("nan")
        diff = b.mean() - values.mean()
        out.append(Comparison(activation, best, float(diff if higher_is_better else -diff),
                              p_value, d, len(b), len(values)))
    return out
