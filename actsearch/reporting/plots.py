"""Per-epoch curves by activation, read back from the tidy history table.

One seed draws a plain line; several seeds draw their mean with a shaded band of
one standard deviation (named in the legend), so seed-to-seed noise is visible; the band is
cut to what the metric can be (an accuracy never past 1, a loss never below 0). Figures are
matplotlib `Figure` objects drawn straight to files, never through pyplot, so importing
actsearch or writing a report leaves a notebook's plotting backend alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from actsearch.analysis import rows_at
from actsearch.config import Point
from actsearch.statistics import metric_range
from actsearch.trials import point_label, short_keys

PRETTY = {"binary_accuracy": "binary accuracy", "categorical_accuracy": "accuracy (10-class)",
          "loss": "loss"}


def line_style(activation: str, everyone: list[str]) -> tuple[tuple, str]:
    """(color, line style) of an activation by its place among all of a run's activations,
    so it keeps its color in every figure, including those that leave some out."""
    colors = matplotlib.colormaps["tab10"].colors
    i = everyone.index(activation)
    return colors[i % len(colors)], "-" if i < len(colors) else "--"


def draw_curves(ax, histories: pd.DataFrame, column: str, activations: list[str],
                pruned: Sequence[str] = ()) -> None:
    """`column` against epoch on `ax`, one curve (or mean and band) per activation; an x
    where each `pruned` trial stopped."""
    everyone = list(dict.fromkeys(histories["activation"])) if not histories.empty else []
    for activation in activations:
        runs = histories[histories["activation"] == activation]
        if runs.empty or column not in runs:
            continue
        color, style = line_style(activation, everyone)
        n_seeds = runs["seed"].nunique()
        stats = runs.groupby("epoch")[column].agg(["mean", "std"])
        marker = "o" if stats.index.max() <= 30 else None
        if n_seeds == 1:
            ax.plot(stats.index, stats["mean"], style, color=color, lw=1.6, marker=marker,
                    ms=3, label=activation)
        else:
            label = f"{activation} (mean ± std, {n_seeds} seeds)"
            ax.plot(stats.index, stats["mean"], style, color=color, lw=1.6, marker=marker,
                    ms=3, label=label)
            low, high = band(stats["mean"], stats["std"], column)
            ax.fill_between(stats.index, low, high, color=color, alpha=0.18, lw=0)
        _mark_pruned(ax, runs[runs["trial"].isin(pruned)], column, color)
    ax.set_xlabel("epoch")
    ax.set_ylabel(PRETTY.get(column.removeprefix("val_"), column))
    ax.grid(True, alpha=0.3)
    if not histories.empty and histories["epoch"].max() <= 20:
        ax.set_xticks(sorted(histories["epoch"].unique()))
    ax.legend(title="activation", fontsize=9)


def band(mean: pd.Series, std: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    """mean ± std cut to what the metric can be (accuracies in [0, 1], losses >= 0): a band
    past 100% or below a zero loss shows values no seed can have."""
    lowest, highest = metric_range(column)
    return (mean - std).clip(lower=lowest), (mean + std).clip(upper=highest)


def _mark_pruned(ax, runs: pd.DataFrame, column: str, color) -> None:
    """An x at the last epoch of each pruned trial (its curve ends there)."""
    if runs.empty:
        return
    ends = runs.loc[runs.groupby("trial")["epoch"].idxmax()]
    labelled = "pruned" in ax.get_legend_handles_labels()[1]
    ax.plot(ends["epoch"], ends[column], "x", color=color, ms=9, mew=2,
            label=None if labelled else "pruned", zorder=5)


def plot_curves(histories: pd.DataFrame, column: str, title: str, stem: Path,
                activations: list[str], pruned: Sequence[str] = (),
                formats: Sequence[str] = ("png",)) -> list[Path]:
    """Draw `column` against epoch, one curve per activation; write stem.<format>."""
    fig = new_figure(figsize=(8, 5.5))
    ax = fig.subplots()
    draw_curves(ax, histories, column, activations, pruned)
    ax.set_title(title)
    return save_figure(fig, stem, formats)


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure for a file (no pyplot, no display backend)."""
    return Figure(figsize=figsize, dpi=110)


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = ("png",)) -> list[Path]:
    """stem.png (for reports and the README), and stem.svg or .pdf (for papers) on request
    (plots.formats): each format costs a full draw, so only PNG is the default."""
    fig.tight_layout()
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(f".{fmt}") for fmt in dict.fromkeys(["png", *formats])]
    for path in paths:
        fig.savefig(path)
    return paths


def plot_point_panels(histories: pd.DataFrame, column: str, title: str, stem: Path,
                      activations: list[str], points: list[Point],
                      pruned: Sequence[str] = (), formats: Sequence[str] = ("png",)
                      ) -> list[Path]:
    """`column` against epoch, one panel per sweep point (shared y axis), one curve per
    activation in each; write stem.<format>."""
    ncols = min(3, len(points))
    nrows = int(np.ceil(len(points) / ncols))
    fig = new_figure(figsize=(5.2 * ncols, 3.9 * nrows))
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    for ax, point in zip(axes.flat, points, strict=False):
        draw_curves(ax, rows_at(histories, point), column, activations, pruned)
        ax.set_title(point_label(point))
    for ax in axes.flat[len(points):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return save_figure(fig, stem, formats)


def plot_results(histories: pd.DataFrame, plots_dir: Path, metric: str, exclude: list[str],
                 validation: str, points: list[Point] | None = None,
                 pruned: Sequence[str] = (), formats: Sequence[str] = ("png",)) -> list[Path]:
    """The standard set: validation and training accuracy and loss, plus the validation pair
    again without the excluded activations (the article dropped sigmoid to zoom in). With a
    sweep (`points`), each figure has one panel per point; `pruned` trials' curves end with an x."""
    if histories.empty:
        return []

    def draw(hist: pd.DataFrame, column: str, title: str, stem: Path, activations: list[str]
             ) -> list[Path]:
        if points and points != [()]:
            return plot_point_panels(hist, column, title, stem, activations, points, pruned,
                                     formats)
        return plot_curves(hist, column, title, stem, activations, pruned, formats)

    activations = list(dict.fromkeys(histories["activation"]))
    val_name = "test set, used as validation" if validation == "test" else "held-out validation"
    written = []
    curves = [("val", metric, "accuracy"), ("val", "loss", "loss"),
              ("train", metric, "accuracy"), ("train", "loss", "loss")]
    for split, col, kind in curves:
        column = f"val_{col}" if split == "val" else col
        where = val_name if split == "val" else "training"
        title = f"{PRETTY.get(col, col)} per epoch ({where})"
        written += draw(histories, column, title, plots_dir / f"{split}_{kind}", activations)
    kept = [a for a in activations if a not in exclude]
    if kept and len(kept) < len(activations):
        suffix = "without_" + "_".join(a for a in activations if a in exclude)
        for col, kind in ((metric, "accuracy"), ("loss", "loss")):
            title = f"{PRETTY.get(col, col)} per epoch ({val_name}), {suffix.replace('_', ' ')}"
            written += draw(histories, f"val_{col}", title, plots_dir / f"val_{kind}_{suffix}",
                            kept)
    return written


def numeric_keys(sweep: dict[str, list]) -> list[str]:
    """Swept keys whose values are all numbers (not booleans), with at least two values."""
    return [key for key, values in sweep.items() if len(values) > 1 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)]


def plot_objective_vs_keys(summary: pd.DataFrame, score: str, sweep: dict[str, list],
                           plots_dir: Path, formats: Sequence[str] = ("png",)) -> list[Path]:
    """For each numeric swept key, plots/objective_vs_<key>: the objective on the test set
    (`score`) against the key's values, one line per activation (mean over seeds, error bars
    one standard deviation, each seed a faint dot); one panel per combination of the other
    swept keys' values; a log x axis when the values span 100x or more."""
    if summary.empty or score not in summary:
        return []
    ok = summary[summary["status"] == "ok"].dropna(subset=[score])
    activations = list(dict.fromkeys(summary["activation"]))
    short = short_keys(list(sweep))
    written = []
    for key in numeric_keys(sweep):
        others = [k for k in sweep if k != key]
        panels = [tuple(zip(others, values, strict=True)) for values in
                  itertools.product(*(sweep[k] for k in others))]
        ncols = min(3, len(panels))
        nrows = int(np.ceil(len(panels) / ncols))
        fig = new_figure(figsize=(6.0 * ncols, 4.4 * nrows))
        axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
        values = sorted(sweep[key])
        for ax, panel in zip(axes.flat, panels, strict=False):
            rows = rows_at(ok, panel)
            for activation in activations:
                runs = rows[rows["activation"] == activation]
                if runs.empty:
                    continue
                color, style = line_style(activation, activations)
                stats = runs.groupby(key)[score].agg(["mean", "std", "count"]).sort_index()
                low, high = band(stats["mean"], stats["std"].fillna(0.0), score)
                ax.errorbar(stats.index, stats["mean"],
                            yerr=[stats["mean"] - low, high - stats["mean"]],
                            fmt=style, color=color, marker="o", ms=4, capsize=3, lw=1.6,
                            label=activation)
                if stats["count"].max() > 1:
                    ax.scatter(runs[key], runs[score], color=color, s=10, alpha=0.35, lw=0)
            positive = all(v > 0 for v in values)
            if positive and max(values) / min(values) >= 100:
                ax.set_xscale("log")
            ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.set_xlabel(key)
            ax.grid(True, alpha=0.3)
            if panel:
                ax.set_title(point_label(panel))
            ax.legend(title="activation", fontsize=8)
        for ax in axes.flat[len(panels):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel(f"test {PRETTY.get(score.removeprefix('test_'), score)}")
        fig.suptitle(f"test {score.removeprefix('test_')} against {key}\n(mean ± std over "
                     f"seeds; dots: seeds)", fontsize=10)
        written += save_figure(fig, plots_dir / f"objective_vs_{short[key]}", formats)
    return written
