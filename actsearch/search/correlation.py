"""Does a rung's cheap ranking predict the next one's? Spearman's rho between consecutive
rungs over the candidates that trained in both, and between the last rung and the confirm
run's test means over the confirmed candidates (the premise of successive halving, measured)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from actsearch.activations import display_name
from actsearch.search.rungs import rung_column, rung_direction
from actsearch.statistics import ScorePair, rank_correlation
from actsearch.trials import Status


def rung_pairs(search: Any, confirm_summary: pd.DataFrame | None = None,
               column: str | None = None) -> list[ScorePair]:
    """Consecutive rungs (objectives as recorded, diverged and failed candidates left out),
    then the last rung against the confirm run's mean `column` per confirmed candidate."""
    scored = [r for r in search.records if r.trainable and not r.failed]
    pairs = []
    for k in range(search.n_rungs - 1):
        both = [(r.result(k).objective, r.result(k + 1).objective) for r in scored
                if _objective(r, k) is not None and _objective(r, k + 1) is not None]
        pairs.append(_pair(f"rung {k}", f"rung {k + 1}", both))
    if confirm_summary is not None and column and not confirm_summary.empty:
        finished = confirm_summary[confirm_summary["status"] == str(Status.OK)]
        means = finished.groupby("activation")[column].mean()
        last = search.n_rungs - 1
        # a rung scored on the loss (lower is better) against a confirm metric that is higher
        # for better: the loss negated, so a rung that predicts gives a positive rho
        sign = -1.0 if rung_direction(search.cfg) != search.cfg.objective.direction else 1.0
        both = [(sign * r.result(last).objective, float(means[display_name(r.text)]))
                for r in scored
                if _objective(r, last) is not None and display_name(r.text) in means.index]
        label = f"rung {last}" + (f" (-{rung_column(search.cfg)})" if sign < 0 else "")
        pairs.append(_pair(label, f"confirm ({column}, mean over seeds)", both))
    return pairs


def _objective(record: Any, k: int) -> float | None:
    result = record.result(k)
    return None if result is None else result.objective


def _pair(first: str, second: str, both: list[tuple[float, float]]) -> ScorePair:
    x, y = [a for a, _ in both], [b for _, b in both]
    return ScorePair(first, second, x, y, rank_correlation(x, y))
