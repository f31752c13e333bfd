"""Tables built from a results folder: every epoch of every trial, one row per trial, the
ranking of activations with its statistics, and the diagnostics condensed per activation.
Everything is read back from disk, so a resumed or re-plotted run reports exactly what was
kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from actsearch.config import Config, Point, sweep_points
from actsearch.statistics import MCB, aggregate, ranking_order, ranking_verdict
from actsearch.storage import ResultsDir
from actsearch.trials import Status, Trial


def stack_trials(trials: list[Trial], path_of: Callable[[str], Path]) -> pd.DataFrame:
    """Per-trial CSVs (path_of(trial id)) in one table led by trial, activation and seed."""
    frames = []
    for trial in trials:
        path = path_of(trial.id)
        if not path.is_file():
            continue
        table = pd.read_csv(path)
        table.insert(0, "seed", trial.seed)
        for key, value in reversed(trial.point):  # a sweep point's values, one column a key
            table.insert(0, key, value)
        table.insert(0, "activation", trial.activation)
        table.insert(0, "trial", trial.id)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def tidy_histories(results: ResultsDir, trials: list[Trial]) -> pd.DataFrame:
    """All trials' epochs in one table: trial, activation, seed, epoch, metrics..."""
    return stack_trials(trials, results.history_path)


def tidy_diagnostics(results: ResultsDir, trials: list[Trial]) -> pd.DataFrame:
    """All trials' diagnostics rows: trial, activation, seed, epoch, layer, measurements."""
    return stack_trials(trials, results.diagnostics_path)


def trial_summary(cfg: Config, results: ResultsDir, trials: list[Trial]) -> pd.DataFrame:
    """One row per finished trial: final and best validation metrics (best by the objective),
    test metrics, timing."""
    rows = []
    monitor = f"val_{cfg.objective.metric}"
    for trial in trials:
        record = results.load_record(trial.id)
        hist = results.load_history(trial.id)
        if record is None or (hist.empty and record.status != Status.FAILED):
            continue
        row: dict[str, Any] = {"trial": trial.id, "activation": trial.activation,
                               **dict(trial.point), "seed": trial.seed,
                               "status": str(record.status),
                               "epochs": record.epochs_run}
        if hist.empty:  # failed before its first epoch
            rows.append({**row, "error": record.error})
            continue
        last = hist.iloc[-1]
        for col in hist.columns:
            if col.startswith("val_"):
                row[f"final_{col}"] = last[col]
        if monitor in hist and hist[monitor].notna().any():
            best = (hist[monitor].idxmax() if cfg.objective.direction == "max"
                    else hist[monitor].idxmin())
            row[f"best_{monitor}"] = hist.loc[best, monitor]
            row["best_epoch"] = int(hist.loc[best, "epoch"])
        for key, value in record.test.items():
            row[f"test_{key}"] = value
        row["diverged_epoch"] = record.diverged_epoch
        if record.status == Status.PRUNED:
            row["pruned_epoch"], row["pruned_reason"] = record.pruned_epoch, record.pruned_reason
        row["mean_epoch_seconds"] = float(hist["seconds"].mean())
        row["params"] = record.params
        if record.error:
            row["error"] = record.error
        rows.append(row)
    return pd.DataFrame(rows)


def score_column(cfg: Config) -> str:
    """The summary column that ranks activations: the objective on the test set."""
    return f"test_{cfg.objective.metric}"


def rows_at(frame: pd.DataFrame, point: Point) -> pd.DataFrame:
    """The rows of a table (with one column per swept key) at one sweep point; the whole
    table at the empty point (no sweep)."""
    if not point:
        return frame
    mask = pd.Series(True, index=frame.index)
    for key, value in point:
        if key not in frame:
            return frame.iloc[0:0]
        mask &= frame[key].isna() if value is None else frame[key] == value
    return frame[mask]


def per_point(points: list[Point], frame: pd.DataFrame,
              table: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """`table` of each point's rows, led by the point's columns, stacked in sweep order;
    without a sweep (points [()]) just `table(frame)`."""
    if points == [()] or not points:
        return table(frame)
    parts = []
    for point in points:
        part = table(rows_at(frame, point)) if not frame.empty else pd.DataFrame()
        if part.empty:
            continue
        for key, value in reversed(point):
            part.insert(0, key, [value] * len(part))
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def rank_activations(cfg: Config, summary: pd.DataFrame) -> pd.DataFrame:
    """Per activation over seeds (and per sweep point: one block each, ranked within it):
    mean, std, 95% CI of the objective on the test set over finished seeds, the test loss and
    the best validation value, the diverged and pruned counts; ranked by
    statistics.ranking_order (a diverged or pruned seed counts as the worst outcome); each
    compared with statistics.reference (Holm) or, without one, with the best of the others
    (Hsu's MCB): exact sign-flip or rank-sum permutation test, adjusted p-value, the smallest
    p the seeds allow, effect size, Hodges-Lehmann shift and simultaneous 95% interval
    (ci_low/high_vs_best: activation - reference, or under MCB activation - the best of the
    others; positive means better, in the metric's units, a loss's sign flipped)."""
    return per_point(sweep_points(cfg), summary, lambda rows: _rank(cfg, rows))


def _rank(cfg: Config, summary: pd.DataFrame) -> pd.DataFrame:
    score = score_column(cfg)
    if summary.empty or score not in summary:  # nothing finished, or every trial failed
        return pd.DataFrame()
    metric = cfg.objective.metric
    columns = list(dict.fromkeys([score, "test_loss", f"best_val_{metric}"]))
    higher = cfg.objective.direction == "max"
    order = ranking_order(summary, score, higher)
    table = aggregate(summary, columns).merge(order[["activation", "ranking_mean"]],
                                              on="activation", how="left")
    position = {name: i for i, name in enumerate(order["activation"])}
    table = table.assign(_at=[position.get(a, len(position)) for a in table["activation"]])
    table = table.sort_values("_at", kind="stable").drop(columns="_at")
    table.insert(0, "rank", range(1, len(table) + 1))
    verdict = ranking_verdict(summary, score, higher, cfg.statistics.reference)
    comparisons = {c.activation: c for c in verdict.comparisons} if verdict else {}
    fields = {"diff_to_best": ("difference", 0.0), "test_vs_best": ("test", ""),
              "p_value_vs_best": ("p_value", float("nan")),
              "p_adjusted_vs_best": ("p_adjusted", float("nan")),
              "p_floor_vs_best": ("p_floor", float("nan")),
              "effect_vs_best": ("effect_size", float("nan")), "effect_kind": ("effect", ""),
              "shift_vs_best": ("shift", float("nan")), "ci_low_vs_best": ("low", float("nan")),
              "ci_high_vs_best": ("high", float("nan")), "rival": ("rival", "")}
    for column, (attribute, default) in fields.items():
        table[column] = [getattr(comparisons[a], attribute) if a in comparisons else default
                         for a in table["activation"]]
    if verdict is not None and verdict.procedure == MCB:  # the best's own lead, its interval
        first = table["activation"] == verdict.best
        table.loc[first, "ci_low_vs_best"] = verdict.best_low
        table.loc[first, "ci_high_vs_best"] = verdict.best_high
    table["compared_with"] = verdict.anchor if verdict else ""
    table["procedure"] = verdict.procedure if verdict else ""
    return table.reset_index(drop=True)


def diagnostics_table(diag: pd.DataFrame, points: list[Point] | None = None) -> pd.DataFrame:
    """Per activation (and sweep point: `points`), mean over seeds: the first-to-last layer
    gradient ratio (before training, after epoch 1, at the end), the most any layer's
    gradient was clipped in epoch 1, dead units per hidden layer at the end, and the top
    hidden layer's output statistics at the end."""
    return per_point(points or [()], diag, _diagnostics_rows)


def _diagnostics_rows(diag: pd.DataFrame) -> pd.DataFrame:
    if diag.empty:
        return pd.DataFrame()
    layers = list(dict.fromkeys(diag["layer"]))
    hidden = list(dict.fromkeys(diag.loc[diag["act_std"].notna(), "layer"]))
    first, last, top = layers[0], layers[-1], hidden[-1] if hidden else None
    at_end = diag[diag["epoch"] == diag.groupby("trial")["epoch"].transform("max")]
    rows = []
    for activation, runs in diag.groupby("activation", sort=False):
        norms = runs.pivot_table(index=["trial", "epoch"], columns="layer", values="grad_norm",
                                 dropna=False)  # a diverged trial's NaN layers stay
        ratio = (norms[first] / norms[last]).groupby("epoch").mean()
        end = at_end[at_end["activation"] == activation].groupby("layer").mean(
            numeric_only=True)
        epoch1 = runs[runs["epoch"] == 1]
        row = {"activation": activation,
               f"grad {first}/{last} start": ratio.get(0, float("nan")),
               f"grad {first}/{last} epoch 1": ratio.get(1, float("nan")),
               f"grad {first}/{last} end": float(ratio.iloc[-1]),
               "max clipped % epoch 1": 100 * epoch1["clipped_fraction"].max()}
        for layer in hidden:
            row[f"dead % {layer}"] = 100 * end.loc[layer, "dead_fraction"]
        if top is not None:
            row[f"inactive % {top}"] = 100 * end.loc[top, "inactive_fraction"]
            row[f"{top} mean"] = end.loc[top, "act_mean"]
            row[f"{top} std"] = end.loc[top, "act_std"]
        rows.append(row)
    return pd.DataFrame(rows)
