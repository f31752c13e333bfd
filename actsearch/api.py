"""The Python API for notebooks and scripts: the same machinery as the CLI.

    import actsearch
    res = actsearch.run("mnist", overrides={"training.epochs": 5})   # or a YAML path
    res.summary          # one row per trial (pandas)
    res.statistics       # one row per activation: mean, std, CI, p-value vs best
    res.histories        # every epoch of every trial (tidy)
    res.plot()           # validation accuracy and loss, as a matplotlib Figure
    actsearch.load_results("results/mnist")   # a finished (or interrupted) run
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from actsearch.bundled import resolve_config
from actsearch.config import Config, load_config
from actsearch.data import ARRAYS, Arrays
from actsearch.errors import UserError
from actsearch.experiment import run_experiment
from actsearch.lock import results_lock
from actsearch.models import Builder, builder_name
from actsearch.reporting.plots import draw_curves
from actsearch.reporting.report import write_report
from actsearch.search import SearchOutcome, run_search, search_config
from actsearch.storage import ResultsDir
from actsearch.trials import plan_trials


@dataclass
class Results:
    """A results folder, read from disk on every access (so it is never stale)."""

    path: Path
    config: Config

    def _csv(self, name: str) -> pd.DataFrame:
        file = self.path / name
        return pd.read_csv(file) if file.is_file() and file.stat().st_size > 1 else pd.DataFrame()

    @property
    def histories(self) -> pd.DataFrame:
        """histories.csv: every epoch of every trial, one row each (empty before any epoch)."""
        return self._csv("histories.csv")

    @property
    def summary(self) -> pd.DataFrame:
        """summary.csv: one row per trial (final and best validation metrics, test metrics)."""
        return self._csv("summary.csv")

    @property
    def statistics(self) -> pd.DataFrame:
        """statistics.csv: one row per activation: mean, std, 95% CI over seeds, rank, and
        difference, p-value and effect size against the best."""
        return self._csv("statistics.csv")

    @property
    def report(self) -> Path:
        """The folder's report.html, one self-contained page."""
        return self.path / "report.html"

    def refresh(self) -> None:
        """Rebuild tables, plots and report.html from the trials on disk."""
        with results_lock(self.path):  # not while a run is writing this folder
            write_report(self.config, ResultsDir(self.path), plan_trials(self.config))

    def plot(self, split: str = "val"):
        """Accuracy (the config's plot metric) and loss per epoch, side by side, as a pyplot
        figure (so a notebook shows it with its own backend)."""
        import matplotlib.pyplot as plt

        hist = self.histories
        prefix = "val_" if split == "val" else ""
        activations = list(dict.fromkeys(hist["activation"])) if not hist.empty else []
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
        for ax, col in zip(axes, (self.config.plot_metric, "loss"), strict=True):
            draw_curves(ax, hist, prefix + col, activations)
            ax.set_title(f"{prefix}{col}")
        fig.tight_layout()
        return fig

    def _repr_markdown_(self) -> str:
        md = self.path / "summary.md"
        return md.read_text() if md.is_file() else f"actsearch results in {self.path}"


def run(config: str | Path | dict[str, Any] | Config = "mnist",
        overrides: dict[str, Any] | None = None, out: str | Path | None = None,
        overwrite: bool = False, quiet: bool = False, model: Builder | None = None,
        data: Arrays | None = None) -> Results:
    """Run an experiment like `python -m actsearch run`: `config` is a YAML path, a bundled
    config's name, a dict or a Config; overrides use dotted keys.

    model: your own builder, `build(act, input_shape, num_classes) -> keras.Model` (see
    actsearch.models), recorded as model.architecture `module:qualname`; data: the arrays
    (x_train, y_train, x_test, y_test), recorded as data.dataset `arrays`."""
    values = dict(overrides or {})
    if out is not None:
        values["output.dir"] = str(out)
    if model is not None:
        if not callable(model):
            raise UserError(f"model= must be a builder function, got {type(model).__name__}")
        values["model.architecture"] = builder_name(model)
    if data is not None:
        values.update({"data.dataset": ARRAYS, "data.path": None, "data.loader": None})
    if isinstance(config, Config):
        config = config.to_dict()
    if isinstance(config, dict):
        cfg = load_config(None, values=values, base=config)
    else:
        cfg = load_config(resolve_config(config), values=values)
    run_experiment(cfg, overwrite=overwrite, quiet=quiet,
                   log=(lambda msg: None) if quiet else print, model=model, arrays=data)
    return Results(cfg.out_dir, cfg)


def search(config: str | Path | dict[str, Any] | Config = "search-fashion",
           overrides: dict[str, Any] | None = None, out: str | Path | None = None,
           quiet: bool = False) -> SearchOutcome:
    """Discover activations like `python -m actsearch search` (resumes in the same `out`):
    .leaderboard (pandas), .verdict, .report, .confirm (a results folder for load_results)."""
    cfg = search_config(config, overrides, out)
    return run_search(cfg, quiet=quiet, log=(lambda msg: None) if quiet else print)


def load_results(path: str | Path) -> Results:
    """A results folder written by `run` (finished or interrupted), e.g. `results/mnist`."""
    results = ResultsDir(path)
    return Results(results.root, results.load_config())

