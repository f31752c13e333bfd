"""What the fidelity measurement (actsearch/search/fidelity.py) says: the pairs of scores
(search/fidelity_pairs.csv), Spearman's rho with its 95% interval per kind, rung and sample
(search/fidelity.csv), the warnings, and what the measurement cost.

Columns of fidelity.csv: `kind` (retest, next_rung, confirm), `rung` (next_rung: the lower
rung of the pair; confirm: the last rung), `sample` (random; top: the rung's best, for
next_rung the promoted candidates, what a search reported before; random_above_chance: the
random sample's candidates above chance in both scores), `n`, `rho`, `low`, `high`,
`noise_sd` (retest: the SD of one score's seed-to-seed noise, sd(a - b) / sqrt 2) and
`top_spread` (the SD of the first score over the sample: the differences the rung must tell
apart)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from actsearch.search.fidelity import CONFIRM, NEXT_RUNG, PROBE, RETEST, draws, last_accuracy
from actsearch.search.progress import duration
from actsearch.search.rungs import confirm_config, rung_config
from actsearch.statistics import rank_correlation

# A score is above chance when its validation accuracy exceeds CHANCE_FACTOR / classes: the
# candidates that never left the loss plateau sit at 1 / classes and inflate a random
# sample's rho (they are easy to order against the rest, and say nothing about the top).
CHANCE_FACTOR = 1.5
# Below these a warning is said (issue targets: a rung's top must repeat under another seed,
# a random sample above chance must keep its order at the next rung; DeepCAVE's guide asks
# at least 0.7 between the lowest and the highest budget).
TARGETS = {(RETEST, "top"): 0.9, (RETEST, "random"): 0.9,
           (NEXT_RUNG, "random_above_chance"): 0.8,
           (CONFIRM, "top"): 0.7, (CONFIRM, "random_above_chance"): 0.8}
PAIR_COLUMNS = ["kind", "rung", "sample", "index", "expression", "score_a", "score_b",
                "above_chance"]
FIGURE_COLUMNS = ["kind", "rung", "sample", "n", "rho", "low", "high", "noise_sd",
                  "top_spread"]


def fidelity_pairs(search: Any) -> pd.DataFrame:
    """One row per candidate and measured pair (score_a the lower rung's objective as
    recorded, score_b the retest's, the next rung's or the confirm protocol's); the random
    samples also say whether both scores are above chance."""
    cfg, records = search.cfg, search.records
    runs = search.db.fidelity_runs()
    last = len(cfg.search.rungs) - 1
    chance = {k: _chance(search, rung_config(cfg, k, [])) for k in range(last + 1)}
    baselines = cfg.search.confirm.baselines  # the confirm run's data; any activation
    chance["confirm"] = _chance(search, confirm_config(cfg, [] if baselines else ["relu"]))
    rows = []
    for draw in draws(cfg, records):
        k = draw.rung
        for sample, indices in (("random", draw.random), ("top", draw.top)):
            for i in indices:
                record = records[i]
                if draw.kind == NEXT_RUNG and record.result(k + 1) is not None:
                    second = record.result(k + 1)
                    b, b_acc = second.objective, (lambda i=i, k=k: _accuracy(search, i, k + 1))
                else:
                    kind, rung = (PROBE, k + 1) if draw.kind == NEXT_RUNG else (draw.kind, k)
                    run = runs.get((kind, rung, i))
                    b, b_acc = (run.objective, lambda run=run: run.accuracy) if run else \
                        (None, None)
                if b is None:
                    continue
                above = None
                if sample == "random":  # the histories are read for the random samples only
                    b_chance = chance["confirm" if draw.kind == CONFIRM else
                                      k + 1 if draw.kind == NEXT_RUNG else k]
                    a_value, b_value = _accuracy(search, i, k), b_acc()
                    above = (a_value is not None and b_value is not None
                             and a_value > chance[k] and b_value > b_chance)
                rows.append([draw.kind, k, sample, i, record.text,
                             record.result(k).objective, b, above])
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def _accuracy(search: Any, index: int, k: int) -> float | None:
    return last_accuracy(search.db.history(index, k))


def _chance(search: Any, cfg: Any) -> float:
    return CHANCE_FACTOR / search.data(cfg.data).num_classes


def fidelity_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per kind, rung and sample (see the module docstring)."""
    rows = []
    if pairs.empty:
        return pd.DataFrame(columns=FIGURE_COLUMNS)
    for (kind, rung), group in pairs.groupby(["kind", "rung"], sort=False):
        for sample in ("random", "top"):
            part = group[group["sample"] == sample]
            rows.append(_row(kind, rung, sample, part))
            if sample == "random":
                rows.append(_row(kind, rung, "random_above_chance",
                                 part[part["above_chance"].astype(bool)]))
    order = {RETEST: 0, NEXT_RUNG: 1, CONFIRM: 2}
    table = pd.DataFrame(rows, columns=FIGURE_COLUMNS)
    return table.sort_values(["kind", "rung"], key=lambda c: c.map(order) if c.name == "kind"
                             else c, kind="stable").reset_index(drop=True)


def _row(kind: str, rung: int, sample: str, part: pd.DataFrame) -> list:
    a, b = part["score_a"].to_numpy(float), part["score_b"].to_numpy(float)
    c = rank_correlation(a, b)
    noise = (float(np.std(a - b, ddof=1) / math.sqrt(2))
             if kind == RETEST and len(a) >= 2 else None)
    spread = float(np.std(a, ddof=1)) if len(a) >= 2 else None
    return [kind, int(rung), sample, c.n, c.rho, c.low, c.high, noise, spread]


def _figure(row: pd.Series) -> str:
    """0.45 [0.10, 0.70]."""
    if row["rho"] is None or pd.isna(row["rho"]):
        return f"no rho (n = {row['n']})"
    interval = "" if pd.isna(row["low"]) else f" [{row['low']:.2f}, {row['high']:.2f}]"
    return f"{row['rho']:.2f}{interval}"


def fidelity_warnings(table: pd.DataFrame) -> list[str]:
    """A plain sentence for each random or top sample below its target (never from the
    promoted-only pairs: their range is cut by the promotion itself)."""
    out = []
    for _, row in table.iterrows():
        target = TARGETS.get((row["kind"], row["sample"]))
        if target is None or row["rho"] is None or pd.isna(row["rho"]) or row["rho"] >= target:
            continue
        k, n, figure = row["rung"], row["n"], _figure(row)
        if row["kind"] == RETEST and row["sample"] == "top":
            text = f"rung {k} cannot order its top {n} (test-retest {figure})"
        elif row["kind"] == RETEST:
            text = f"rung {k} does not repeat its own ranking under another seed (test-retest " \
                   f"{figure} on {n} drawn at random)"
        elif row["kind"] == NEXT_RUNG:
            text = f"rung {k}'s ranking does not carry to rung {k + 1} ({figure} over the {n} " \
                   "of a random sample above chance)"
        elif row["sample"] == "top":
            text = f"rung {k} cannot order its top {n} for the confirm protocol ({figure})"
        else:
            text = f"rung {k}'s ranking does not carry to the confirm protocol ({figure} over " \
                   f"the {n} of a random sample above chance)"
        out.append(f"Warning: {text}; target {target:g}.")
    return out


def cost_sentence(meta: dict) -> str:
    """The measurement's CPU time and its share of the search's (rungs, fidelity, confirm)."""
    spent = meta.get("fidelity_cpu_seconds") or 0.0
    rungs = sum(meta.get("rung_cpu_seconds") or [])
    total = rungs + spent + (meta.get("confirm_cpu_seconds") or 0.0)
    if not spent or not total:
        return "Cost of the fidelity measurement: nothing trained for it yet."
    took = f" ({duration(spent)})" if spent >= 60 else ""
    return (f"Cost of the fidelity measurement: {spent:,.0f} CPU-s{took}, "
            f"{spent / total:.0%} of the search's (rungs "
            f"{rungs:,.0f} CPU-s{', confirm run' if meta.get('confirm_cpu_seconds') else ''} "
            f"included; this process's CPU time, Ray workers' not counted).")
