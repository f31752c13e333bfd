"""An experiment end to end: plan the trials, hand them to an executor, write the report.

Planning, training, writing and plotting stay separate so other executors (parallel,
Ray, fused) can reuse the rest unchanged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from actsearch.config import Config
from actsearch.plots import plot_results
from actsearch.results import (
    ResultsDir,
    Trial,
    environment,
    markdown_table,
    tidy_histories,
    trial_summary,
    write_atomic,
)
from actsearch.statistics import aggregate, compare_to_best

Log = Callable[[str], None]


def plan_trials(cfg: Config) -> list[Trial]:
    """Every (activation, seed) pair, activation-major so one activation's seeds run together."""
    pairs = [(a, s) for a in cfg.model.activations for s in cfg.training.seeds]
    return [Trial(a, s, index=i, total=len(pairs)) for i, (a, s) in enumerate(pairs, start=1)]


def keras_verbosity(quiet: bool) -> int:
    """A step-by-step bar on a terminal, one line per epoch in logs and CI, nothing if quiet."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


def run_experiment(cfg: Config, overwrite: bool = False, quiet: bool = False,
                   log: Log = print) -> ResultsDir:
    import tensorflow as tf

    from actsearch.data import load_dataset
    from actsearch.executors import get_executor

    data = load_dataset(cfg.data)  # before touching the results folder: bad data claims nothing
    results = ResultsDir(cfg.out_dir)
    results.prepare(cfg, overwrite=overwrite)
    if cfg.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    trials = plan_trials(cfg)
    env = environment()
    env["data"] = {"source": cfg.data.path or cfg.data.dataset, "train": len(data.x_train),
                   "validation": len(data.x_val) if data.validation == "split" else "test set",
                   "test": len(data.x_test)}
    write_atomic(results.root / "env.json", json.dumps(env, indent=2))
    log(f"actsearch: {cfg.name}: {len(trials)} trials ({', '.join(cfg.model.activations)} x "
        f"seeds {cfg.training.seeds}), {cfg.training.epochs} epochs, {data.describe()}; "
        f"writing to {results.root}")
    get_executor(cfg.execution.executor).run(
        trials, cfg, data, results, verbose=keras_verbosity(quiet), log=log)
    write_report(cfg, results)
    log(f"actsearch: done. Summary: {results.root / 'summary.md'}; plots: {results.plots}")
    return results


def write_report(cfg: Config, results: ResultsDir) -> pd.DataFrame:
    """histories.csv, summary.csv, statistics.csv, summary.md and the plots, all from disk."""
    trials = plan_trials(cfg)
    histories = tidy_histories(results, trials)
    write_atomic(results.root / "histories.csv", histories.to_csv(index=False))
    summary = trial_summary(cfg, results, trials)
    write_atomic(results.root / "summary.csv", summary.to_csv(index=False))
    ranking = rank_activations(cfg, summary)
    write_atomic(results.root / "statistics.csv", ranking.to_csv(index=False))
    write_atomic(results.root / "summary.md", summary_markdown(cfg, summary, ranking))
    plot_results(histories, results.plots, cfg.plots.metric, cfg.plots.exclude,
                 cfg.data.validation)
    return summary


def _score_columns(cfg: Config) -> tuple[str, list[str]]:
    """The column that ranks activations (test accuracy) and every column worth a statistic."""
    metric = cfg.plots.metric
    return f"test_{metric}", [f"test_{metric}", "test_loss", f"best_val_{metric}"]


def rank_activations(cfg: Config, summary: pd.DataFrame) -> pd.DataFrame:
    """Per activation over seeds: mean, std, 95% CI; ranked by test accuracy; each compared
    with the best by Welch's t-test."""
    if summary.empty:
        return pd.DataFrame()
    score, columns = _score_columns(cfg)
    table = aggregate(summary, columns)
    table = table.sort_values(f"{score}_mean", ascending=False, na_position="last")
    table.insert(0, "rank", range(1, len(table) + 1))
    comparisons = {c.activation: c for c in compare_to_best(summary, score)}
    table["diff_to_best"] = [comparisons[a].difference if a in comparisons else 0.0
                             for a in table["activation"]]
    table["p_value_vs_best"] = [comparisons[a].p_value if a in comparisons else float("nan")
                                for a in table["activation"]]
    table["cohens_d_vs_best"] = [comparisons[a].cohens_d if a in comparisons else float("nan")
                                 for a in table["activation"]]
    return table.reset_index(drop=True)


def summary_markdown(cfg: Config, summary: pd.DataFrame, ranking: pd.DataFrame) -> str:
    data = cfg.data
    source = data.path or data.dataset
    sizes = ", ".join(f"{k} {getattr(data, k)}" for k in ("limit_train", "limit_test")
                      if getattr(data, k))
    val = ("the test set (as the article)" if data.validation == "test"
           else f"{data.validation_split:.0%} of the training set, held out; the test set is "
           f"used once, at the end")
    restore = "; test metrics use the best-validation weights" if cfg.training.restore_best else ""
    lines = [
        f"# {cfg.name}: activation comparison",
        "",
        f"Data: {source}{' (' + sizes + ')' if sizes else ''}; validation on {val}{restore}. "
        f"{cfg.training.epochs} epochs, batch {cfg.training.batch_size}, "
        f"loss {cfg.training.loss}, Adam lr {cfg.training.optimizer.learning_rate}"
        f"{_clip_text(cfg)}; seeds {', '.join(map(str, cfg.training.seeds))}.",
        "",
    ]
    if summary.empty:
        return "\n".join(lines + ["No trial has finished yet.", ""])
    metric = cfg.plots.metric
    score, _ = _score_columns(cfg)
    lines += ["## Ranking", "", _ranking_table(ranking, score, metric), ""]
    comparisons = compare_to_best(summary, score)
    if comparisons:
        lines += ["## How sure is the ranking?", "",
                  f"Welch's t-test on test {metric} over seeds, best activation against each "
                  "other; d is Cohen's d (difference in pooled standard deviations).", ""]
        lines += [f"- {c.sentence()}" for c in comparisons]
        lines.append("")
    wanted = ["activation", "seed", "status", "epochs",
              f"final_val_{metric}", f"best_val_{metric}", "best_epoch",
              "test_loss", "test_binary_accuracy", "test_categorical_accuracy",
              "mean_epoch_seconds", "params"]
    table = summary[[c for c in wanted if c in summary.columns]]
    lines += ["## Trials", "", markdown_table(table), ""]
    diverged = summary[summary["status"] == "diverged"]
    for _, row in diverged.iterrows():
        lines.append(f"- {row['trial']} diverged at epoch {int(row['diverged_epoch'])} "
                     "(non-finite loss) and was stopped there; it is left out of the statistics.")
    if "test_binary_accuracy" in summary and "test_categorical_accuracy" in summary:
        lines += ["", "binary_accuracy is what Keras reported as 'accuracy' for "
                  "binary_crossentropy in the article's days: it scores each of the 10 outputs "
                  "as a separate yes/no, so 9 easy 'no's lift it near 1.0. "
                  "categorical_accuracy is the real 10-class accuracy.", ""]
    return "\n".join(lines)


def _ranking_table(ranking: pd.DataFrame, score: str, metric: str) -> str:
    def spread(row, col, scale=1.0):
        mean, std = row[f"{col}_mean"] * scale, row[f"{col}_std"] * scale
        if row["seeds"] > 1:
            low, high = row[f"{col}_ci95_low"] * scale, row[f"{col}_ci95_high"] * scale
            return f"{mean:.2f} ± {std:.2f} [{low:.2f}, {high:.2f}]"
        return f"{mean:.2f}" if pd.notna(mean) else "-"

    lines = [f"| rank | activation | seeds | test {metric} % (mean ± std [95% CI]) | "
             f"test loss | best val {metric} % | diverged |", "|---|---|---|---|---|---|---|"]
    for _, row in ranking.iterrows():
        loss = row["test_loss_mean"]
        lines.append(f"| {row['rank']} | {row['activation']} | {row['seeds']} | "
                     f"{spread(row, score, 100)} | {loss:.4f} | "
                     f"{spread(row, f'best_val_{metric}', 100)} | {row['diverged']} |")
    return "\n".join(lines)


def _clip_text(cfg: Config) -> str:
    o = cfg.training.optimizer
    for key in ("clipvalue", "clipnorm", "global_clipnorm"):
        if getattr(o, key) is not None:
            return f", {key} {getattr(o, key)}"
    return ", no gradient clipping"


def load_results_config(path: str | Path) -> tuple[Config, ResultsDir]:
    results = ResultsDir(path)
    return results.load_config(), results
