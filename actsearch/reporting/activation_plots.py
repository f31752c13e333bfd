"""Graphs of the activations and their derivatives, as the articles draw them.

Each curve is computed from the registry's own layer (the one the models use), and each
derivative by TensorFlow's automatic differentiation of that layer, so the figures show
exactly what trains, not a textbook formula.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from actsearch.activations import ActivationOptions, file_safe, get_spec
from actsearch.reporting.plots import new_figure, save_figure

X_RANGE = (-4.0, 4.0)


def evaluate(name: str, x: np.ndarray,
             options: ActivationOptions | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(f(x), f'(x)) for a registered activation, elementwise, by autodiff."""
    layer = get_spec(name).make_layer(options or ActivationOptions(), f"shape_{file_safe(name)}")
    xs = tf.constant(np.asarray(x, dtype="float32").reshape(-1, 1))
    with tf.GradientTape() as tape:
        tape.watch(xs)
        ys = layer(xs)
    grads = tape.gradient(ys, xs)  # elementwise activation: d sum(y) / dx_i = f'(x_i)
    return ys.numpy().ravel(), grads.numpy().ravel()


def plot_activations(names: list[str], out_dir: Path,
                     options: ActivationOptions | None = None) -> list[Path]:
    """activations.png (all functions), derivatives.png (all derivatives) and
    activations_grid.png (one panel per activation, function and derivative)."""
    x = np.linspace(*X_RANGE, 801)
    curves = {name: evaluate(name, x, options) for name in names}
    written = []
    for index, (kind, stem) in enumerate([("f(x)", "activations"),
                                          ("f'(x) by autodiff", "derivatives")]):
        fig = new_figure(figsize=(8, 5.5))
        ax = fig.subplots()
        for i, (name, values) in enumerate(curves.items()):
            ax.plot(x, values[index], "-" if i < 10 else "--", lw=1.6, label=name)
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_ylim(*((-2.0, 4.0) if index == 0 else (-0.3, 1.9)))
        ax.set_xlabel("x")
        ax.set_ylabel(kind)
        ax.set_title(f"{stem.capitalize()} on [{X_RANGE[0]:g}, {X_RANGE[1]:g}]")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        written += save_figure(fig, out_dir / stem)
    written += _grid(x, curves, out_dir / "activations_grid")
    return written


def _grid(x: np.ndarray, curves: dict, stem: Path) -> list[Path]:
    ncols = min(4, len(curves))
    nrows = int(np.ceil(len(curves) / ncols))
    fig = new_figure(figsize=(3.4 * ncols, 2.8 * nrows))
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False)
    for ax, (name, (f, df)) in zip(axes.flat, curves.items(), strict=False):
        ax.plot(x, f, lw=1.8, label="f(x)")
        ax.plot(x, df, "--", lw=1.4, label="f'(x)")
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_ylim(-2.0, 3.0)
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
    for ax in axes.flat[len(curves):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    return save_figure(fig, stem)
