"""An experiment end to end: check the config, load the data, claim the results folder, hand
the planned trials to the executor, write the report."""

from __future__ import annotations

import contextlib
import sys

import tensorflow as tf

from actsearch.checks import check
from actsearch.config import Config, apply_point, sweep_points
from actsearch.data import Arrays, load_dataset
from actsearch.executors import Log, get_executor
from actsearch.lock import results_lock
from actsearch.models import Builder, builder_scope
from actsearch.reporting.report import write_report
from actsearch.storage import ResultsDir
from actsearch.training import check_model
from actsearch.trials import plan_trials


def keras_verbosity(quiet: bool) -> int:
    """A step-by-step bar on a terminal, one line per epoch in logs and CI, nothing if quiet."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


def run_experiment(cfg: Config, overwrite: bool = False, quiet: bool = False,
                   log: Log = print, model: Builder | None = None,
                   arrays: Arrays | None = None) -> ResultsDir:
    """Run `cfg`. `model`: a builder function, named in cfg.model.architecture by
    builder_name (the API sets it); `arrays`: (x_train, y_train, x_test, y_test) in place of
    the configured data."""
    scope = builder_scope(model) if model is not None else contextlib.nullcontext()
    with scope:
        return _run(cfg, overwrite, quiet, log, arrays)


def _run(cfg: Config, overwrite: bool, quiet: bool, log: Log, arrays: Arrays | None
         ) -> ResultsDir:
    point_configs = [apply_point(cfg, point) for point in sweep_points(cfg)]
    for point_cfg in point_configs:  # a swept architecture or setting must fit everything
        check(point_cfg)
    trials = plan_trials(cfg)  # ids that would collide: refused here
    executor = get_executor(cfg.execution.executor)
    executor.require()  # e.g. Ray not installed: refused before any work
    data = load_dataset(cfg.data, arrays)  # before the results folder: bad data claims nothing
    for point_cfg in point_configs:  # a builder that does not fit the data: refused here too
        check_model(point_cfg, data)
    with results_lock(cfg.out_dir):  # one run per folder; refused before any write
        results = ResultsDir(cfg.out_dir)
        results.prepare(cfg, overwrite=overwrite)
        if cfg.training.deterministic:
            tf.config.experimental.enable_op_determinism()
        results.save_environment({"data": {
            "source": cfg.data.path or cfg.data.loader or cfg.data.dataset,
            "train": len(data.x_train),
            "validation": len(data.x_val) if data.validation == "split" else "test set",
            "test": len(data.x_test), "input_shape": list(data.input_shape),
            "classes": data.num_classes}})
        swept = "".join(f" x {key} {values}" for key, values in cfg.sweep.items())
        log(f"actsearch: {cfg.name}: {len(trials)} trials ({', '.join(cfg.model.activations)}"
            f"{swept} x seeds {cfg.training.seeds}), {cfg.training.epochs} epochs, "
            f"{cfg.model.architecture}, {data.describe()}; writing to {results.root}")
        executor.run(trials, cfg, data, results, verbose=keras_verbosity(quiet), log=log)
        write_report(cfg, results, trials)
        log(f"actsearch: done. Summary: {results.root / 'summary.md'}; plots: {results.plots_dir}")
        return results
