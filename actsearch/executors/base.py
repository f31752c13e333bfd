"""The executor base: one loop owns a trial's lifecycle (skip what is finished, run what is
pending, record each result as it arrives, log), as KerasTuner's BaseTuner.search owns its
loop; an executor overrides only how pending trials run: `run_trial` for one at a time, or
`run_pending` for several at once (a fused model, a cluster)."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator
from typing import ClassVar

from actsearch.config import Config
from actsearch.data import Dataset
from actsearch.errors import UserError
from actsearch.pruning import PruningCallback, pruning_callback
from actsearch.storage import ResultsDir
from actsearch.training import watched
from actsearch.trials import Status, Trial, TrialResult, trial_config

Log = Callable[[str], None]


class Executor:
    """Runs the planned trials of an experiment and records them in the results folder."""

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, str] | None] = None  # (module it imports, pip extra)
    # set by `run` for pruning's peers: the trials finished so far, and every planned one
    finished: dict[str, TrialResult]
    planned: dict[str, Trial]

    def check(self, cfg: Config) -> None:
        """Refuse, in one line, a config this executor cannot run (before any work)."""

    def require(self) -> None:
        """Fail in one line, before any work, when the optional dependency is missing."""
        if not self.requires:
            return
        module, extra = self.requires
        try:
            importlib.import_module(module)
        except ImportError:
            raise UserError(f"execution.executor={self.name} needs {module.capitalize()}, "
                            f"which is not installed here: pip install -e '.[{extra}]'") from None

    def run(self, trials: list[Trial], cfg: Config, data: Dataset, results: ResultsDir,
            verbose: int, log: Log) -> list[TrialResult]:
        done: dict[str, TrialResult] = {}
        pending = []
        for trial in trials:
            record = results.load_record(trial.id)
            if record is None or record.status == Status.FAILED:  # a failed trial is retried
                pending.append(trial)
            else:
                log(f"{trial.head}: already finished, skipped")
                done[trial.id] = record
        by_id = {trial.id: trial for trial in pending}
        self.finished, self.planned = done, {t.id: t for t in trials}  # pruning's peers
        if pending:
            for result in self.run_pending(pending, cfg, data, results, verbose, log):
                result.config = trial_config(cfg, by_id[result.trial_id]).to_dict()
                results.save_record(result)  # each as it ends: a crash keeps the finished ones
                log(describe_result(by_id[result.trial_id].head, result))
                done[result.trial_id] = result
        return [done[t.id] for t in trials]

    def run_pending(self, trials: list[Trial], cfg: Config, data: Dataset,
                    results: ResultsDir, verbose: int, log: Log) -> Iterator[TrialResult]:
        """Each pending trial's result as soon as it has one."""
        for trial in trials:
            log(trial.head)
            yield self.run_trial(trial, cfg, data, results, verbose)

    def run_trial(self, trial: Trial, cfg: Config, data: Dataset, results: ResultsDir,
                  verbose: int) -> TrialResult:
        raise NotImplementedError

    def pruning_callbacks(self, trial: Trial, cfg: Config, data: Dataset, results: ResultsDir
                          ) -> list[PruningCallback]:
        """[] unless pruning is on; else one callback whose peers are the trials `run` has
        seen finish ok at the same sweep point (pass its result to `mark_pruned`)."""
        if not cfg.pruning.enabled:
            return []
        monitor, _ = watched(cfg)
        finished, planned = self.finished, self.planned
        peers = [results.load_history(tid) for tid, record in finished.items()
                 if record.status == Status.OK and tid != trial.id
                 and planned[tid].point == trial.point]
        return [pruning_callback(cfg, monitor, data.y_val, peers,
                                 results.load_history(trial.id))]


def mark_pruned(result: TrialResult, callbacks: list[PruningCallback]) -> TrialResult:
    """The result as pruned if a pruning callback stopped it (a diverged trial stays so)."""
    pruned = next((c.pruned for c in callbacks if c.pruned is not None), None)
    if pruned is None or result.status != Status.OK:
        return result
    return dataclasses.replace(result, status=Status.PRUNED, pruned_epoch=pruned.epoch,
                               pruned_reason=pruned.reason)


def describe_result(head: str, result: TrialResult) -> str:
    if result.status == Status.FAILED:
        return f"{head}: FAILED: {result.error}"
    if result.status == Status.DIVERGED:
        return f"{head}: DIVERGED at epoch {result.diverged_epoch} (non-finite loss), stopped"
    if result.status == Status.PRUNED:
        return f"{head}: PRUNED at epoch {result.pruned_epoch} ({result.pruned_reason})"
    parts = [f"{k} {v:.4f}" for k, v in result.test.items()]
    return f"{head}: done in {result.seconds:.0f}s, test " + ", ".join(parts)
