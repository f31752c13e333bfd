"""Executors: who runs the planned trials. The local one runs them in this process, in turn;
the fused one (actsearch/fused.py) trains each seed's activations as one model."""

from __future__ import annotations

from collections.abc import Callable

import keras

from actsearch.config import Config
from actsearch.data import Dataset
from actsearch.fused import FusedExecutor
from actsearch.results import ResultsDir, Trial, TrialResult
from actsearch.training import train_trial

Log = Callable[[str], None]


class LocalExecutor:
    """One trial after another; the Keras session is cleared between them so graphs and
    layer-name counters do not pile up over a long sweep."""

    def run(self, trials: list[Trial], cfg: Config, data: Dataset, results: ResultsDir,
            verbose: int, log: Log) -> list[TrialResult]:
        done = []
        for trial in trials:
            head = f"[{trial.index}/{trial.total}] {trial.activation} seed {trial.seed}"
            finished = results.finished(trial.id)
            if finished is not None:
                log(f"{head}: already finished, skipped")
                done.append(finished)
                continue
            log(head)
            result = train_trial(trial, cfg, data, results, verbose=verbose)
            results.record(result)
            log(describe_result(head, result))
            done.append(result)
            keras.backend.clear_session()
        return done


def head(trial: Trial) -> str:
    return f"[{trial.index}/{trial.total}] {trial.activation} seed {trial.seed}"


def describe_result(head: str, result: TrialResult) -> str:
    if result.status == "diverged":
        return f"{head}: DIVERGED at epoch {result.diverged_epoch} (non-finite loss), stopped"
    parts = [f"{k} {v:.4f}" for k, v in result.test.items()]
    return f"{head}: done in {result.seconds:.0f}s, test " + ", ".join(parts)


EXECUTORS = {"local": LocalExecutor, "fused": FusedExecutor}


def get_executor(name: str):
    return EXECUTORS[name]()
