"""How a rung's candidates are trained: two implementations of one small interface.

`train(k, members, on_result)` trains the candidates `members` (records of
actsearch.search.state) at rung k from scratch with the rung's config and calls
`on_result(index, run)` once per candidate as soon as its run is known; a candidate whose
training raised is reported failed with the reason, and the others go on.

- `EngineTrainer`: the batch engine (actsearch.search.engine.train_candidates): K candidates
  in one compiled program, nothing written but the search's database. The default wherever
  `engine_unsupported` says nothing.
- `FolderTrainer`: each rung an ordinary results folder, `<out>/search/rung<k>`, trained by the
  configured executor (local, fused, ray), so each candidate also has its history CSV and
  record there. The fallback, and what Ray uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from actsearch.activations import display_name
from actsearch.config import Config, DataConfig
from actsearch.data import Dataset
from actsearch.errors import UserError
from actsearch.executors import Log, get_executor
from actsearch.expressions import Expr, parse
from actsearch.search.engine import engine_unsupported, train_candidates
from actsearch.search.rungs import prepare_rung, rung_config, rung_seeds, rung_values
from actsearch.search.space import Candidate
from actsearch.search.state import CandidateRecord
from actsearch.storage import ResultsDir
from actsearch.trials import Status, Trial


@dataclass
class RungRun:
    """One candidate's training at one rung (the fields of the engine's CandidateRun)."""

    history: pd.DataFrame  # per epoch: epoch (from 1), loss, <metrics>, val_loss, val_<metrics>
    status: str  # ok, diverged or failed
    diverged_epoch: int | None = None
    error: str | None = None
    # one per seed where the rung trains several (search.rungs[k].seeds); `history` is then
    # their mean per epoch, and the rung's score the mean of theirs
    histories: list[pd.DataFrame] | None = None


def run_score(run: RungRun, cfg: Config) -> tuple[str, tuple | None]:
    """A run's status and its rung score (rungs.rung_values: the mean over its seeds); a
    finished run without a score diverged."""
    if run.status != "ok":
        return run.status, None
    values = rung_values(run.histories or [run.history], cfg)
    return ("ok" if values is not None else "diverged"), values


def merged(runs: list[RungRun]) -> RungRun:
    """One candidate's runs with the rung's seeds as one: failed if any failed, else diverged
    if any diverged; the history the mean per epoch (over the epochs every seed reached)."""
    if len(runs) == 1:
        return runs[0]
    for status in ("failed", "diverged"):
        bad = next((r for r in runs if r.status == status), None)
        if bad is not None:
            return RungRun(bad.history, status, bad.diverged_epoch, bad.error,
                           [r.history for r in runs])
    epochs = min(len(r.history) for r in runs)
    frames = [r.history.iloc[:epochs].reset_index(drop=True) for r in runs]
    mean = pd.concat(frames).groupby(level=0).mean(numeric_only=True)
    return RungRun(mean, "ok", None, None, [r.history for r in runs])


OnResult = Callable[[int, RungRun], None]
DataOf = Callable[[DataConfig], Dataset]  # a rung's data set, loaded once
# every candidate that entered rung k so far, the members now training included
Entered = Callable[[int, list[CandidateRecord]], list[str]]


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}{': ' + text[0] if text else ''}"


class FolderTrainer:
    """Path 1: a rung is a results folder trained by `cfg.execution.executor`."""

    name = "folder"

    def __init__(self, cfg: Config, data_of: DataOf, entered: Entered, log: Log):
        self.cfg, self.data_of, self.entered, self.log = cfg, data_of, entered, log
        self.executor = get_executor(cfg.execution.executor)

    def train(self, k: int, members: list[CandidateRecord], on_result: OnResult) -> None:
        """Each seed of the rung in turn; with one, each candidate is reported as it ends."""
        self.train_with(rung_config(self.cfg, k, self.entered(k, members)),
                        rung_seeds(self.cfg, k), members, on_result)

    def train_with(self, cfg: Config, seeds: list[int], members: list[CandidateRecord],
                   on_result: OnResult) -> None:
        """`members` trained with `cfg` (a derived config: its output.dir is the folder, its
        activations who entered it) and each of `seeds`, reported as one run per candidate
        (merged: the mean over the seeds)."""
        if len(seeds) == 1:
            self._train_seed(cfg, members, seeds[0], on_result)
            return
        runs: dict[int, list[RungRun]] = {}
        for seed in seeds:
            self._train_seed(cfg, members, seed,
                             lambda index, run: runs.setdefault(index, []).append(run))
        for record in members:
            on_result(record.index, merged(runs[record.index]))

    def _train_seed(self, cfg: Config, members: list[CandidateRecord], seed: int,
                    on_result: OnResult) -> None:
        results = ResultsDir(cfg.out_dir)
        prepare_rung(results, cfg)
        trials = [Trial(display_name(c.text), seed, index=j, total=len(members))
                  for j, c in enumerate(members, start=1)]
        by_id = {t.id: c for t, c in zip(trials, members, strict=True)}
        reported: set[str] = set()

        def report(trial_id: str, run: RungRun) -> None:
            reported.add(trial_id)
            on_result(by_id[trial_id].index, run)

        def collect(message: str) -> None:  # the executor logs right after saving each record
            for trial_id in by_id:
                if trial_id in reported:
                    continue
                saved = results.load_record(trial_id)
                if saved is not None:
                    report(trial_id, RungRun(history_of(results, trial_id), str(saved.status),
                                             saved.diverged_epoch, saved.error))

        data = self.data_of(cfg.data)
        pending = trials
        while pending:  # each pass reports at least one candidate
            try:
                self.executor.run(pending, cfg, data, results, verbose=0, log=collect)
                collect("")
                for trial in pending:
                    if trial.id not in reported:
                        report(trial.id, RungRun(pd.DataFrame(), str(Status.FAILED),
                                                 error="the executor left no record"))
            except Exception as exc:  # noqa: BLE001 - one candidate's failure, not the search's
                collect("")
                culprit = next((t for t in pending if t.id not in reported), None)
                if culprit is None:
                    raise
                report(culprit.id, RungRun(history_of(results, culprit.id), str(Status.FAILED),
                                           error=one_line(exc)))
            pending = [t for t in pending if t.id not in reported]


def history_of(results: ResultsDir, trial_id: str) -> pd.DataFrame:
    try:
        return results.load_history(trial_id)
    except (OSError, ValueError):  # a failed trial may have left no readable history
        return pd.DataFrame()


class EngineTrainer:
    """Path 2: the batch engine trains a rung's candidates together, writing no files."""

    name = "engine"

    def __init__(self, cfg: Config, data_of: DataOf, log: Log):
        self.cfg, self.data_of, self.log = cfg, data_of, log

    def train(self, k: int, members: list[CandidateRecord], on_result: OnResult) -> None:
        self.train_with(rung_config(self.cfg, k, [c.text for c in members]),
                        rung_seeds(self.cfg, k), members, on_result)

    def train_with(self, cfg: Config, seeds: list[int], members: list[CandidateRecord],
                   on_result: OnResult) -> None:
        """`members` trained with `cfg` (a derived config) and each of `seeds`, reported as
        one run per candidate (merged: the mean over the seeds)."""
        data = self.data_of(cfg.data)
        inputs = [_engine_input(c) for c in members]
        by_seed = [train_candidates(inputs, cfg, data, seed, log=lambda message: None)
                   for seed in seeds]  # the same cached program each time
        for i, record in enumerate(members):
            runs = [RungRun(runs[i].history, str(runs[i].status), runs[i].diverged_epoch,
                            runs[i].error) for runs in by_seed]
            on_result(record.index, merged(runs))


def _engine_input(record: CandidateRecord) -> Candidate | Expr:
    """The candidate's genome where it has one (the engine's fast path for every shape of the
    space), else its expression."""
    return parse(record.text) if record.genome is None else Candidate.from_dict(record.genome)


def engine_reason(cfg: Config) -> str | None:
    """Why the batch engine cannot train this search, or None."""
    if cfg.execution.executor == "ray":
        return "execution.executor ray trains each rung as a results folder on its workers"
    for k in range(len(cfg.search.rungs)):
        reason = engine_unsupported(rung_config(cfg, k, ["relu"]))
        if reason:
            return reason
    return None


def choose_trainer(cfg: Config, data_of: DataOf, entered: Entered, log: Log,
                   path: str | None = None) -> FolderTrainer | EngineTrainer:
    """The engine wherever it applies (no flag); otherwise one line says why, and each rung
    trains as a results folder with the configured executor. `path` "folder" asks for the
    folder path whatever applies (the Python API's, for tests and comparisons)."""
    if path not in (None, "folder", "engine"):
        raise UserError(f"search trainer must be folder or engine, got {path!r}")
    reason = engine_reason(cfg)
    if path == "folder":
        reason = "the folder path was asked for"
    elif path == "engine" and reason is not None:
        raise UserError(f"the batch engine cannot train this search: {reason}")
    if reason is None:
        log("search: each batch trains in the batch engine (several candidates per program)")
        return EngineTrainer(cfg, data_of, log)
    log(f"search: not the batch engine: {reason}; each rung trains as a results folder with "
        f"execution.executor {cfg.execution.executor}")
    return FolderTrainer(cfg, data_of, entered, log)
