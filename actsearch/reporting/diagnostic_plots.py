"""Figures of the per-epoch diagnostics (see diagnostics.py), several seeds averaged.

Epoch 0 is the network before any training step, where vanishing gradients show most.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from actsearch.reporting.plots import line_style, new_figure, save_figure

HIDDEN_COLUMNS = [("dead_fraction", "dead units (%)"),
                  ("act_mean", "output mean"), ("act_std", "output std"),
                  ("clipped_fraction", "gradient entries clipped (%)")]
PERCENT = {"dead_fraction", "inactive_fraction", "clipped_fraction"}


def seed_means(diag: pd.DataFrame) -> pd.DataFrame:
    """One row per (activation, layer, epoch): the mean over seeds."""
    numeric = [c for c in diag.select_dtypes("number").columns  # not a sweep's text key
               if c not in ("seed", "epoch")]
    return (diag.groupby(["activation", "layer", "epoch"], sort=False)[numeric].mean()
            .reset_index())


def plot_diagnostics(diag: pd.DataFrame, plots_dir: Path, tag: str = "", label: str = "",
                     formats: Sequence[str] = ("png",)) -> list[Path]:
    """The gradient and hidden-layer figures; `tag` ends their file names and `label` their
    titles (one sweep point's: `-depth8`, `depth=8`)."""
    if diag.empty:
        return []
    means = seed_means(diag)
    activations = list(dict.fromkeys(diag["activation"]))
    layers = list(dict.fromkeys(diag["layer"]))
    n_seeds = diag.groupby("activation")["seed"].nunique().max()
    note = f" (mean of {n_seeds} seeds)" if n_seeds > 1 else ""
    note += f", {label}" if label else ""
    return (save_figure(_gradients(means, activations, layers, note),
                        plots_dir / f"diagnostics_gradients{tag}", formats)
            + save_figure(_per_layer(means, activations, note),
                          plots_dir / f"diagnostics_layers{tag}", formats))


def _gradients(means: pd.DataFrame, activations: list[str], layers: list[str],
               note: str) -> Figure:
    """One panel per activation, one line per layer: the gap between lines is the vanishing."""
    ncols = min(3, len(activations))
    nrows = int(np.ceil(len(activations) / ncols))
    fig = new_figure(figsize=(4.6 * ncols, 3.4 * nrows))
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    for ax, activation in zip(axes.flat, activations, strict=False):
        rows = means[means["activation"] == activation]
        for layer in layers:
            line = rows[rows["layer"] == layer]
            ax.plot(line["epoch"], line["grad_norm"].clip(lower=1e-12), marker="o", ms=3,
                    label=layer)
        ax.set_yscale("log")
        ax.set_title(activation)
        ax.set_xlabel("epoch (0 = before training)")
        ax.grid(True, which="both", alpha=0.25)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes.flat[len(activations):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("kernel gradient L2 norm")
    axes.flat[0].legend(title="layer", fontsize=8)
    fig.suptitle("Gradient norm per layer on a fixed probe batch, before clipping" + note)
    return fig


def _per_layer(means: pd.DataFrame, activations: list[str], note: str) -> Figure:
    """Rows: dead units, output mean, output std, clipping; columns: hidden layers; one
    line per activation. Dashed dead-unit lines are units inactive (<= threshold, negative
    included) on every probe image: dead for ReLU, still passing a gradient for Leaky/ELU."""
    hidden = list(dict.fromkeys(means.loc[means["act_std"].notna(), "layer"]))
    fig = new_figure(figsize=(4.4 * len(hidden), 2.7 * len(HIDDEN_COLUMNS)))
    axes = fig.subplots(len(HIDDEN_COLUMNS), len(hidden), sharex=True, squeeze=False)
    for col, layer in enumerate(hidden):
        axes[0, col].set_title(layer)
        for row, (column, label) in enumerate(HIDDEN_COLUMNS):
            ax = axes[row, col]
            scale = 100.0 if column in PERCENT else 1.0
            for activation in activations:
                line = means[(means["activation"] == activation) & (means["layer"] == layer)]
                color, style = line_style(activation, activations)
                ax.plot(line["epoch"], line[column] * scale, style, color=color, marker="o",
                        ms=2.5, label=activation)
                if column == "dead_fraction":
                    ax.plot(line["epoch"], line["inactive_fraction"] * scale, "--",
                            color=color, lw=1)
            if column == "act_mean":
                ax.axhline(0.0, color="k", lw=0.6, alpha=0.5)
            if column == "act_std":
                ax.axhline(1.0, color="k", lw=0.6, alpha=0.5)
            ax.grid(True, alpha=0.25)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if col == 0:
                ax.set_ylabel(label)
    for ax in axes[-1]:
        ax.set_xlabel("epoch (0 = before training)")
    axes[0, -1].legend(title="activation", fontsize=8)
    fig.suptitle("Hidden layers on a fixed probe batch" + note +
                 "; dashed: units inactive (output <= 0) on every image")
    return fig
