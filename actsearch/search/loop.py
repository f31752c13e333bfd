"""`actsearch search`: discover activation functions, then test the best against baselines.

Candidates (expressions of x from actsearch/search/space.py, proposed by aging evolution or
sampled at random, after any `search.include` expressions) are screened over the range the
network's pre-activations take, then trained batch by batch. Every candidate trains at rung 0;
after each batch, a candidate goes on to rung k+1 when it is in the top `keep` fraction of
everything rung k has seen so far (asynchronous successive halving, actsearch/search/
promotion.py), and trains again from scratch with that rung's larger budget. How a rung trains
is actsearch/search/trainers.py: the batch engine by default, or a results folder per rung.
The top candidates are then retrained at full budget with several seeds (none of them the
rungs' seed) beside the baselines in `<out>/confirm`, an ordinary experiment with its
statistics and report, and the search says whether any candidate beats the best baseline
after Holm's correction.

Selection. Evolution is told each candidate's rung-0 objective (oriented so higher is better;
None for a diverged one) when its batch ends, and the `search.include` expressions' too (as the
genome of the space that computes the same function, where one does). A failed candidate
(its training raised) is recorded failed with its reason, has no score, is never promoted and
never told to evolution. A rung's objective is its score (search.rung_metric: the validation
loss by default, the mean over rungs[k].seeds). The leaderboard ranks by the highest rung with
an objective, then the objective there, ties by actsearch/search/promotion.py's tie_key (never
proposal order).

Crash safety. The state is `<out>/search/search.db` (actsearch/search/state.py): a batch's
proposals, each finished candidate and each batch's end are one transaction each; a rerun
continues from it, trains only what has no result, and the same seed gives the same
candidates, rungs and scores.

Who owns what. This module owns the lifecycle (the model is keras-tuner's base tuner: one loop
owns the trial lifecycle) and nothing else: the refusals and measurements before any training
are actsearch/search/preflight.py; proposing, screening and telling evolution is the candidate
pool (pool.py); where each result stands, the rungs' boards (standings.py); training a rung
(trainers.py); what the search writes (outputs.py); on Ray the same lifecycle with several
batches in flight (parallel.py).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import tensorflow as tf

from actsearch.bundled import resolve_config
from actsearch.config import Config, DataConfig, load_config
from actsearch.data import Dataset
from actsearch.errors import UserError
from actsearch.executors import Log, get_executor
from actsearch.lock import results_lock
from actsearch.search.fidelity import measure as measure_fidelity
from actsearch.search.outputs import confirm_and_report, write_outputs
from actsearch.search.pool import CandidatePool
from actsearch.search.preflight import (
    check_networks,
    check_search,
    differing,
    screening_range,
    search_defining,
)
from actsearch.search.progress import Progress
from actsearch.search.space import SearchSpace
from actsearch.search.standings import Standings
from actsearch.search.state import SCHEMA_VERSION, CandidateRecord, RungResult, SearchDB
from actsearch.search.trainers import FolderTrainer, RungRun, choose_trainer, run_score
from actsearch.search.validation import RungData

# After a batch the leaderboard is rewritten, and the report (whose plots cost about a second)
# redrawn, unless the last write was less than this long ago; both always at the end. Each
# write costs O(candidates), so a 10,000-candidate search with batches of a second would
# otherwise spend most of its time rewriting them.
LEADERBOARD_EVERY_SECONDS = 5.0
REPORT_EVERY_SECONDS = 30.0
WRITE_SHARE = 0.05


@dataclass
class SearchOutcome:
    """What a search leaves behind (all of it also on disk under `path`)."""

    path: Path  # the --out folder
    leaderboard: pd.DataFrame  # one row per candidate, best first
    report: Path  # <out>/search/report.html
    summary: Path  # <out>/search/summary.md
    confirm: Path | None  # <out>/confirm, an ordinary results folder (None: confirm.top 0)
    verdict: str  # the sentence saying whether any candidate beats the best baseline
    beats_baselines: bool


class Search:
    """One search's lifecycle: its database, the candidate pool (proposals, screening,
    evolution), the standings (the rungs' boards), the trainer, and the loop over batches
    that proposes, trains, promotes, tells evolution and commits (see the module docstring)."""

    def __init__(self, cfg: Config, space: SearchSpace, log: Log, trainer: str | None = None):
        self.cfg, self.log = cfg, log
        self.root = cfg.out_dir / "search"
        if (self.root / "state.json").is_file() and not (self.root / "search.db").is_file():
            raise UserError(f"{self.root} holds a search of an earlier actsearch (state.json); "
                            "use --out DIR for a new search")
        self.db = SearchDB(self.root / "search.db")
        self.meta = self._load_or_start()
        self.n_rungs = len(cfg.search.rungs)
        self.pool = CandidatePool(cfg, space, self.meta, self.db.candidates())
        self.records: list[CandidateRecord] = self.pool.records  # the pool's, in proposal order
        self.batches: dict[int, bool] = self.db.batches()
        self.standings = Standings(cfg)
        for record in self.records:
            for result in record.rungs:
                self.standings.place(self.records, record.index, result)
        self._data = RungData(cfg, log)  # held-out validation images (search/validation.py)
        self.progress = Progress(cfg, self.log)
        self.trainer = choose_trainer(cfg, self.data, self.pool.entered, log, trainer)
        self._reported_at = self._board_at = -math.inf
        # this process's search time (wall, CPU) is added to the database's at each batch end
        self._clock = (time.monotonic(), time.process_time())
        self._board_took = self._report_took = 0.0

    # state ---------------------------------------------------------------------------------

    def _load_or_start(self) -> dict[str, Any]:
        meta = self.db.meta()
        defining = search_defining(self.cfg.to_dict())
        if meta:
            if meta.get("version") != SCHEMA_VERSION:
                raise UserError(f"{self.db.path} holds a search of another actsearch (schema "
                                f"{meta.get('version')}, this one reads {SCHEMA_VERSION}): its "
                                "scores and fingerprints are not comparable; use --out DIR for "
                                "a new search")
            before = search_defining(meta.get("config") or {})
            if before != defining:
                raise UserError(f"{self.cfg.out_dir} holds a search with a different config "
                                f"({differing(before, defining)}; only search.candidates, "
                                "search.confirm, search.fidelity, model.activations, output, "
                                "plots, statistics, diagnostics and execution but for "
                                "mixed_precision and "
                                "jit_compile may change on resume); use --out DIR")
            return meta
        meta = {"version": SCHEMA_VERSION, "config": defining, "screen_range": None,
                "evolution": None, "rng": None, "included": 0, "exhausted": None}
        self.db.set_meta(meta)
        return meta

    def generator_state(self) -> dict[str, Any]:
        """What the database keeps with each batch: the proposer's state and the search's
        time so far (this process's added to what earlier ones spent)."""
        now = (time.monotonic(), time.process_time())
        for key, start, end in (("wall_seconds", self._clock[0], now[0]),
                                ("cpu_seconds", self._clock[1], now[1])):
            self.meta[key] = (self.meta.get(key) or 0.0) + end - start
        self._clock = now
        return {**self.pool.state(), "wall_seconds": self.meta["wall_seconds"],
                "cpu_seconds": self.meta["cpu_seconds"],
                "rung_cpu_seconds": self.meta.get("rung_cpu_seconds") or []}

    def data(self, section: DataConfig) -> Dataset:
        """A rung's (or the screening's) data set, loaded once per distinct data section;
        with data.validation split, validated on search.validation_images held-out images."""
        return self._data(section)

    def screen_range(self) -> tuple[float, float]:
        """The screening range, measured once and kept in the database."""
        if self.meta["screen_range"] is None:
            self.meta["screen_range"] = list(screening_range(self.cfg, self.data))
            self.db.set_meta({"screen_range": self.meta["screen_range"]})
        low, high = self.meta["screen_range"]
        return low, high

    def new_batch(self) -> int | None:
        """The next batch's proposals, committed with the proposer's state (None: nothing
        could be proposed)."""
        batch = len(self.batches)
        added = self.pool.new_batch(batch, self.screen_range())
        if not added:
            self.db.set_meta(self.generator_state())
            return None
        self.db.add_batch(batch, added, self.generator_state())
        self.batches[batch] = False
        return batch

    # the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        """Batches until search.candidates are trained (or the space runs out), then the
        fidelity measurement (actsearch/search/fidelity.py)."""
        if self.cfg.training.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.screen_range()
        check_networks(self.cfg, self.data)
        if isinstance(self.trainer, FolderTrainer) and self.cfg.execution.executor == "ray":
            from actsearch.search.parallel import run_in_flight
            run_in_flight(self)
        else:
            self._run_batches()
        if self.meta["exhausted"]:
            self.log(f"search: stopped early: {self.meta['exhausted']}")
        measure_fidelity(self)

    def _run_batches(self) -> None:
        s = self.cfg.search
        while True:
            open_batches = [b for b, done in sorted(self.batches.items()) if not done]
            if open_batches:
                batch = open_batches[0]
            elif self.pool.n_trainable < s.candidates and not self.meta["exhausted"]:
                batch = self.new_batch()
                if batch is None:
                    break
            else:
                break
            self._run_batch(batch)

    def _run_batch(self, batch: int) -> None:
        members = [self.records[i] for i in self.pool.members.get(batch, [])]
        self._train(0, [r for r in members if r.result(0) is None])
        for k in range(self.n_rungs - 1):  # promotions cascade through the rungs
            promoted = [self.records[i] for i in self.standings.boards[k].promotable()]
            self._train(k + 1, promoted)
        for record in members:
            self.pool.tell(record, self.log)
        self.db.finish_batch(batch, self.generator_state())
        self.batches[batch] = True
        self.write(final=False)
        self.progress.batch_done(self, batch)

    def _train(self, k: int, members: list[CandidateRecord]) -> None:
        if members:
            started = time.process_time()
            self.trainer.train(k, members, lambda index, run: self.finish(k, index, run))
            spent = self.meta.setdefault("rung_cpu_seconds", [])
            spent.extend([0.0] * (k + 1 - len(spent)))
            spent[k] += time.process_time() - started

    def finish(self, k: int, index: int, run: RungRun, tell: bool = False) -> None:
        """Record a candidate's result at rung k (one transaction). With `tell` (results taken
        as they arrive, on Ray), a rung-0 result is told to evolution in the same one."""
        record = self.records[index]
        if record.result(k) is not None:  # reported twice by a trainer: keep the first
            return
        status, values = run_score(run, self.cfg)  # the mean over the rung's seeds
        epochs = int(len(run.history)) if not run.history.empty else 0
        objective, loss, metric = values or (None, None, None)
        result = RungResult(k, status, epochs, objective, run.error, loss, metric)
        record.rungs.append(result)
        meta = None
        if tell and k == 0:
            self.pool.tell(record, self.log)
            meta = self.generator_state()
        self.db.add_result(index, result, run.history, meta)
        self.standings.place(self.records, index, result)
        if status == "failed":
            self.log(f"search: {record.text} FAILED at rung {k}: {run.error}; recorded as "
                     "failed, no score, the search goes on")

    def write(self, final: bool) -> dict[str, Path] | None:
        """The leaderboard and the report after a batch, each unless it was written less than
        LEADERBOARD_EVERY_SECONDS / REPORT_EVERY_SECONDS ago or less than WRITE_SHARE^-1
        times its own last duration ago (so rewriting never takes more than WRITE_SHARE of
        the time, however many candidates there are); both always at the end."""
        now = time.monotonic()
        wait = max(LEADERBOARD_EVERY_SECONDS, self._board_took / WRITE_SHARE)
        if not final and now - self._board_at < wait:
            return None
        full = final or now - self._reported_at >= max(REPORT_EVERY_SECONDS,
                                                       self._report_took / WRITE_SHARE)
        paths = write_outputs(self, verdict=None, best=None, report=full)
        took = time.monotonic() - now
        self._board_at = now
        if full:
            self._reported_at, self._report_took = now, took
        else:
            self._board_took = took
        return paths


def run_search(cfg: Config, quiet: bool = False, log: Log = print,
               trainer: str | None = None) -> SearchOutcome:
    """Search, confirm, report; resumes a search interrupted in the same --out folder.
    `trainer` (None: the engine where it applies) may ask for "folder" or "engine"."""
    space = check_search(cfg)
    executor = get_executor(cfg.execution.executor)
    executor.require()
    with results_lock(cfg.out_dir):
        search = Search(cfg, space, log, trainer)
        try:
            s = cfg.search
            log(f"actsearch search: {cfg.name}: {s.candidates} candidates ({s.algorithm}, seed "
                f"{s.seed}) in batches of {s.batch} through {len(s.rungs)} rungs "
                f"({', '.join(f'{r.epochs} epochs' for r in s.rungs)}), promoting the top "
                f"{s.keep:g} of each rung; executor {cfg.execution.executor}; writing to "
                f"{cfg.out_dir}")
            search.run()
            board, paths, verdict, beats, confirm_path = confirm_and_report(search)
        finally:
            search.db.close()
        log(f"actsearch search: {verdict}")
        log(f"actsearch search: done. Leaderboard: {paths['leaderboard']}; report: "
            f"{paths['report']}")
        return SearchOutcome(cfg.out_dir, board, paths["report"], paths["summary"],
                             confirm_path, verdict, beats)


def search_config(config: str | Path | dict[str, Any] | Config, overrides: dict | None = None,
                  out: str | Path | None = None) -> Config:
    """A config from a path, a bundled config's name, a dict or a Config, with dotted
    overrides and an output folder."""
    values = dict(overrides or {})
    if out is not None:
        values["output.dir"] = str(out)
    if isinstance(config, Config):
        config = config.to_dict()
    if isinstance(config, dict):
        return load_config(None, values=values, base=copy.deepcopy(config))
    return load_config(resolve_config(config), values=values)
