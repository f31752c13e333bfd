"""An experiment end to end: plan the trials, hand them to an executor, write the report.

Planning, training, writing and plotting stay separate so other executors (parallel,
Ray, fused) can reuse the rest unchanged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from actsearch.config import Config
from actsearch.report import write_report
from actsearch.results import ResultsDir, Trial, environment, write_atomic

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
    from actsearch.executors import get_executor, require

    require(cfg.execution.executor)  # e.g. Ray not installed: refused before any work
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
    write_report(cfg, results, trials)
    log(f"actsearch: done. Summary: {results.root / 'summary.md'}; plots: {results.plots}")
    return results
