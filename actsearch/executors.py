"""Executors: who runs the planned trials. The local one runs them in this process, in turn;
the fused one (actsearch/fused.py) trains each seed's activations as one model; the Ray one
(actsearch/ray_executor.py, loaded only when asked for) runs them on a Ray cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import keras

from actsearch.config import Config
from actsearch.data import Dataset
from actsearch.fused import FusedExecutor
from actsearch.results import ResultsDir, Trial, TrialResult
from actsearch.training import train_trial

Log = Callable[[str], None]


class Executor(Protocol):
    def run(self, trials: list[Trial], cfg: Config, data: Dataset, results: ResultsDir,
            verbose: int, log: Log) -> list[TrialResult]: ...


class LocalExecutor:
    """One trial after another; the Keras session is cleared between them so graphs and
    layer-name counters do not pile up over a long sweep."""

    def run(self, trials: list[Trial], cfg: Config, data: Dataset, results: ResultsDir,
            verbose: int, log: Log) -> list[TrialResult]:
        done = []
        for trial in trials:
            finished = already_finished(trial, results, log)
            if finished is not None:
                done.append(finished)
                continue
            log(head(trial))
            result = train_trial(trial, cfg, data, results, verbose=verbose)
            results.record(result)
            log(describe_result(head(trial), result))
            done.append(result)
            keras.backend.clear_session()
        return done


def head(trial: Trial) -> str:
    return f"[{trial.index}/{trial.total}] {trial.activation} seed {trial.seed}"


def already_finished(trial: Trial, results: ResultsDir, log: Log) -> TrialResult | None:
    """The record of a trial an earlier run finished (logged as skipped). A failed trial does
    not count: a rerun tries it again."""
    record = results.finished(trial.id)
    if record is None or record.status == "failed":
        return None
    log(f"{head(trial)}: already finished, skipped")
    return record


def describe_result(head: str, result: TrialResult) -> str:
    if result.status == "failed":
        return f"{head}: FAILED: {result.error}"
    if result.status == "diverged":
        return f"{head}: DIVERGED at epoch {result.diverged_epoch} (non-finite loss), stopped"
    parts = [f"{k} {v:.4f}" for k, v in result.test.items()]
    return f"{head}: done in {result.seconds:.0f}s, test " + ", ".join(parts)


def _ray_executor() -> Executor:
    from actsearch.ray_executor import RayExecutor

    return RayExecutor()


EXECUTORS: dict[str, Callable[[], Executor]] = {"local": LocalExecutor, "fused": FusedExecutor,
                                                "ray": _ray_executor}


def require(name: str) -> None:
    """Fail in one line, before anything runs, when an executor's optional dependency is
    missing (checked when running, not when reading a config: plotting needs no Ray)."""
    if name == "ray":
        from actsearch.ray_executor import import_ray

        import_ray()


def get_executor(name: str) -> Executor:
    return EXECUTORS[name]()
