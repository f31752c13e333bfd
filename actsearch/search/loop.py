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
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from actsearch.activations import file_safe
from actsearch.bundled import resolve_config
from actsearch.checks import check
from actsearch.config import Config, DataConfig, config_from_dict, load_config
from actsearch.data import Dataset
from actsearch.diagnostics import probe_indices
from actsearch.errors import UserError
from actsearch.executors import Log, get_executor
from actsearch.expressions import canonical, fingerprint, parse, screen
from actsearch.lock import results_lock
from actsearch.search.evolution import AgingEvolution
from actsearch.search.outputs import confirm_and_report, write_outputs
from actsearch.search.progress import Progress
from actsearch.search.promotion import RungBoard, rank_key, standing, tie_key
from actsearch.search.rungs import (
    confirm_config,
    oriented,
    refuse_test_selection,
    refuse_unsupported_seeds,
    rung_config,
    rung_direction,
    rung_values,
)
from actsearch.search.space import Candidate, SearchSpace, genome_of, sample
from actsearch.search.state import SCHEMA_VERSION, CandidateRecord, RungResult, SearchDB
from actsearch.search.trainers import FolderTrainer, RungRun, choose_trainer, one_line
from actsearch.search.validation import RungData
from actsearch.training import build_uncompiled_model

MAX_PROPOSALS_PER_CANDIDATE = 50  # refused/duplicate proposals tolerated before giving up
_SAMPLE_RETRIES = 200
# After a batch the leaderboard is rewritten, and the report (whose plots cost about a second)
# redrawn, unless the last write was less than this long ago; both always at the end. Each
# write costs O(candidates), so a 10,000-candidate search with batches of a second would
# otherwise spend most of its time rewriting them.
LEADERBOARD_EVERY_SECONDS = 5.0
REPORT_EVERY_SECONDS = 30.0
WRITE_SHARE = 0.05
# execution keys that change a search's numbers (as mixed_precision changes a run's): they
# define a search, so a resumed search with another value is refused
NUMERIC_EXECUTION = ("mixed_precision", "jit_compile")


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


def search_space_of(cfg: Config) -> SearchSpace:
    s = cfg.search.space
    values = {k: v for k, v in (("unary", s.unary), ("binary", s.binary)) if v is not None}
    return SearchSpace(**values, units=s.units, constants=s.constants, beta=s.beta,
                       second_unary=s.second_unary, second_binary=s.second_binary)


def check_search(cfg: Config) -> SearchSpace:
    """Everything a search needs, refused in one line before any work."""
    refuse_test_selection(cfg)
    refuse_unsupported_seeds(cfg)
    space = search_space_of(cfg)
    for text in cfg.search.include:
        parse(text)
    baselines = list(cfg.search.confirm.baselines)
    derived = [(f"search.rungs[{k}]", rung_config(cfg, k, ["relu"]))
               for k in range(len(cfg.search.rungs))]
    derived.append(("search.confirm", confirm_config(cfg, [] if baselines else ["relu"])))
    for where, section_cfg in derived:
        try:
            check(section_cfg)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
    return space


def search_defining(raw: dict) -> dict:
    """The parts of a config that decide which candidates and numbers a search gets (where
    it writes, how it runs, the budget and the confirm step may change); keys added to
    actsearch since a search began count as their defaults."""
    raw = json.loads(json.dumps(config_from_dict(raw).to_dict()))
    execution = raw.get("execution") or {}
    numeric = {key: execution.get(key) for key in NUMERIC_EXECUTION}  # change the numbers
    for key in ("output", "plots", "execution", "diagnostics"):
        raw.pop(key, None)
    raw["execution"] = numeric
    raw["model"].pop("activations", None)
    search = raw.get("search") or {}
    for key in ("candidates", "confirm", "allow_test_selection", "batches_in_flight"):
        search.pop(key, None)
    return raw


def differing(old: dict, new: dict, prefix: str = "") -> str:
    """The first dotted key whose value differs, with both values (for a refusal's line)."""
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = differing(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"{prefix}{key} was {a!r}, now {b!r}"
    return ""


class Search:
    """One search: its database, the candidates in memory, the rungs' boards, the proposer,
    and the loop over batches (see the module docstring)."""

    def __init__(self, cfg: Config, space: SearchSpace, log: Log, trainer: str | None = None):
        self.cfg, self.space, self.log = cfg, space, log
        self.root = cfg.out_dir / "search"
        if (self.root / "state.json").is_file() and not (self.root / "search.db").is_file():
            raise UserError(f"{self.root} holds a search of an earlier actsearch (state.json); "
                            "use --out DIR for a new search")
        self.db = SearchDB(self.root / "search.db")
        self.meta = self._load_or_start()
        self.records: list[CandidateRecord] = self.db.candidates()
        self.batches: dict[int, bool] = self.db.batches()
        self.n_rungs = len(cfg.search.rungs)
        self.first_of: dict[str, int] = {}  # fingerprint -> first candidate with it
        self.trial_of: dict[str, int] = {}  # trial id -> candidate
        self.boards = [RungBoard(cfg.search.keep) for _ in range(self.n_rungs)]
        self.n_trainable = 0  # kept as candidates arrive, so a batch costs O(batch)
        self.members: dict[int, list[int]] = {}  # batch -> its trainable candidates
        self.done, self.failed = 0, 0  # trainable candidates with a rung-0 result; failed ones
        self.best: tuple[tuple, int] | None = None  # (promotion.rank_key, candidate)
        for record in self.records:
            self._index(record)
            for result in record.rungs:
                self._place(record.index, result)
        self._data = RungData(cfg, log)  # held-out validation images (search/validation.py)
        self.evolution: AgingEvolution | None = None
        self.rng: np.random.Generator | None = None
        if cfg.search.algorithm == "evolution":
            self.evolution = (AgingEvolution.from_state(self.meta["evolution"])
                              if self.meta.get("evolution") else
                              AgingEvolution(space, cfg.search.population_size,
                                             cfg.search.sample_size, seed=cfg.search.seed))
            for record in self.records:  # proposals made, even in a batch not yet finished
                self.evolution.seen.add(record.fingerprint)
        else:
            self.rng = np.random.default_rng(cfg.search.seed)
            if self.meta.get("rng"):
                self.rng.bit_generator.state = self.meta["rng"]
        self.progress = Progress(cfg, self.log)
        self.trainer = choose_trainer(cfg, self.data, self.entered, log, trainer)
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
                raise UserError(f"{self.db.path}: not a search of this actsearch")
            before = search_defining(meta.get("config") or {})
            if before != defining:
                raise UserError(f"{self.cfg.out_dir} holds a search with a different config "
                                f"({differing(before, defining)}; only search.candidates, "
                                "search.confirm, model.activations, output, plots, diagnostics "
                                "and execution but for mixed_precision and jit_compile may "
                                "change on resume); use --out DIR")
            return meta
        meta = {"version": SCHEMA_VERSION, "config": defining, "screen_range": None,
                "evolution": None, "rng": None, "included": 0, "exhausted": None}
        self.db.set_meta(meta)
        return meta

    def _generator_state(self) -> dict[str, Any]:
        now = (time.monotonic(), time.process_time())
        for key, start, end in (("wall_seconds", self._clock[0], now[0]),
                                ("cpu_seconds", self._clock[1], now[1])):
            self.meta[key] = (self.meta.get(key) or 0.0) + end - start
        self._clock = now
        state = {"included": self.meta["included"], "exhausted": self.meta["exhausted"],
                 "wall_seconds": self.meta["wall_seconds"],
                 "cpu_seconds": self.meta["cpu_seconds"],
                 "rung_cpu_seconds": self.meta.get("rung_cpu_seconds") or []}
        if self.evolution is not None:  # its seen set is rebuilt from the candidates table
            state["evolution"] = self.evolution.to_state(with_seen=False)
        if self.rng is not None:
            state["rng"] = self.rng.bit_generator.state
        return state

    def _index(self, record: CandidateRecord) -> None:
        self.first_of.setdefault(record.fingerprint, record.index)
        if record.trainable:
            self.n_trainable += 1
            self.members.setdefault(record.batch, []).append(record.index)
        if record.trial is not None:
            other = self.trial_of.get(record.trial)
            if other is not None and self.records[other].text != record.text:
                raise UserError(f"trial id {record.trial} of {record.text!r} collides with "
                                f"that of #{other} {self.records[other].text!r}; use --out DIR "
                                "with another search.seed")
            self.trial_of[record.trial] = record.index

    def _place(self, index: int, result: RungResult) -> None:
        """A result on its rung's board; reaching rung k means promoted from k - 1."""
        if result.rung > 0:
            self.boards[result.rung - 1].promoted.add(index)
        else:
            self.done += 1
        if result.status == "failed":
            self.failed += 1
            if self.best is not None and self.best[1] == index:  # rare: rescan
                self.best = None
                for other in self.records:
                    place = rank_key(other, self.cfg)
                    if place is not None and (self.best is None or place > self.best[0]):
                        self.best = (place, other.index)
            return
        tie = tie_key(result, self.cfg, self.records[index].fingerprint)
        self.boards[result.rung].add(index, oriented(result.objective, rung_direction(self.cfg)),
                                     tie)
        if result.objective is not None and not self.records[index].failed:
            place = (*standing([result], rung_direction(self.cfg)), *tie)
            if self.best is None or place > self.best[0]:
                self.best = (place, index)

    def trainable(self) -> list[CandidateRecord]:
        return [r for r in self.records if r.trainable]

    def entered(self, k: int, members: list[CandidateRecord]) -> list[str]:
        """Every candidate that entered rung k so far, these members included."""
        indices = {r.index for r in self.records if r.result(k) is not None}
        indices |= {r.index for r in members}
        return [self.records[i].text for i in sorted(indices)]

    # data and screening ------------------------------------------------------------------

    def data(self, section: DataConfig) -> Dataset:
        """A rung's (or the screening's) data set, loaded once per distinct data section;
        with data.validation split, validated on search.validation_images held-out images."""
        return self._data(section)

    def screen_range(self) -> tuple[float, float]:
        if self.meta["screen_range"] is None:
            s = self.cfg.search
            if s.screen_range is not None:
                low, high = s.screen_range
            else:
                first = rung_config(self.cfg, 0, ["linear"])  # rung 0's network and data
                low, high = preactivation_range(first, self.data(first.data),
                                                s.screen_percentile)
                low, high = low * s.screen_scale, high * s.screen_scale
            self.meta["screen_range"] = [float(low), float(high)]
            self.db.set_meta({"screen_range": self.meta["screen_range"]})
        low, high = self.meta["screen_range"]
        return low, high

    def check_networks(self) -> None:
        """Each rung's network built once on its data (with the identity), so a network and
        data that do not fit together are refused in one line before any training."""
        for k in range(self.n_rungs):
            cfg = rung_config(self.cfg, k, ["linear"])
            data = self.data(cfg.data)
            try:
                build_uncompiled_model(cfg, "linear", data.input_shape, data.num_classes)
            except Exception as exc:  # noqa: BLE001 - any builder's refusal, in one line
                raise UserError(f"search.rungs[{k}]: model.architecture "
                                f"{cfg.model.architecture} cannot be built for data.dataset "
                                f"{cfg.data.dataset} (input {data.input_shape}): "
                                f"{one_line(exc)}") from None
            finally:
                keras.backend.clear_session()

    # proposals -----------------------------------------------------------------------------

    def _propose(self) -> tuple[str, str, dict | None]:
        """(source, expression text, genome or None) of the next candidate."""
        include = self.cfg.search.include
        if self.meta["included"] < len(include):
            text = include[self.meta["included"]]
            self.meta["included"] += 1
            return "include", text, None
        if self.evolution is not None:
            candidate = self.evolution.propose()
            return "evolution", candidate.text, candidate.to_dict()
        for _ in range(_SAMPLE_RETRIES):
            candidate = sample(self.space, self.rng)
            if candidate.fingerprint not in self.first_of:
                return "random", candidate.text, candidate.to_dict()
        raise UserError("no unseen candidate in the search space")

    def _add(self, source: str, text: str, genome: dict | None, batch: int) -> CandidateRecord:
        tree = parse(text)
        mark = fingerprint(tree)
        first = self.first_of.get(mark)
        text = canonical(tree)
        record = CandidateRecord(len(self.records), text, mark, None, source, genome, batch,
                                 first, False, "")
        if first is not None:
            record.screen = f"duplicate of #{first} ({self.records[first].text})"
        else:
            verdict = screen(tree, *self.screen_range())
            record.screen_ok, record.screen = verdict.ok, verdict.reason
            if verdict.ok:
                record.trial = file_safe(text)
        if self.evolution is not None:
            self.evolution.seen.add(mark)  # included expressions are never proposed again
        self.records.append(record)
        self._index(record)
        return record

    def _new_batch(self) -> int | None:
        s = self.cfg.search
        batch = len(self.batches)
        wanted = min(s.batch, s.candidates - self.n_trainable)
        added: list[CandidateRecord] = []
        limit = MAX_PROPOSALS_PER_CANDIDATE * s.candidates
        while sum(r.trainable for r in added) < wanted and len(self.records) < limit:
            try:
                added.append(self._add(*self._propose(), batch))
            except UserError as exc:  # the space is exhausted
                self.meta["exhausted"] = str(exc)
                break
        if len(self.records) >= limit and sum(r.trainable for r in added) < wanted:
            self.meta["exhausted"] = f"{limit} proposals, mostly refused by screening"
        if not added:
            self.db.set_meta(self._generator_state())
            return None
        self.db.add_batch(batch, added, self._generator_state())
        self.batches[batch] = False
        return batch

    # training ------------------------------------------------------------------------------

    def run(self) -> None:
        s = self.cfg.search
        if self.cfg.training.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.screen_range()
        self.check_networks()
        if isinstance(self.trainer, FolderTrainer) and self.cfg.execution.executor == "ray":
            from actsearch.search.parallel import run_in_flight
            run_in_flight(self)
            return
        while True:
            open_batches = [b for b, done in sorted(self.batches.items()) if not done]
            if open_batches:
                batch = open_batches[0]
            elif self.n_trainable < s.candidates and not self.meta["exhausted"]:
                batch = self._new_batch()
                if batch is None:
                    break
            else:
                break
            self._run_batch(batch)
        if self.meta["exhausted"]:
            self.log(f"search: stopped early: {self.meta['exhausted']}")

    def _run_batch(self, batch: int) -> None:
        members = [self.records[i] for i in self.members.get(batch, [])]
        self._train(0, [r for r in members if r.result(0) is None])
        for k in range(self.n_rungs - 1):  # promotions cascade through the rungs
            promoted = [self.records[i] for i in self.boards[k].promotable()]
            self._train(k + 1, promoted)
        for record in members:
            self._tell_evolution(record)
        self.db.finish_batch(batch, self._generator_state())
        self.batches[batch] = True
        self.write(final=False)
        self.progress.batch_done(self, batch)

    def _train(self, k: int, members: list[CandidateRecord]) -> None:
        if members:
            started = time.process_time()
            self.trainer.train(k, members, lambda index, run: self._finish(k, index, run))
            spent = self.meta.setdefault("rung_cpu_seconds", [])
            spent.extend([0.0] * (k + 1 - len(spent)))
            spent[k] += time.process_time() - started

    def _finish(self, k: int, index: int, run: RungRun, tell: bool = False) -> None:
        """Record a candidate's result at rung k (one transaction). With `tell` (results taken
        as they arrive, on Ray), a rung-0 result is told to evolution in the same one."""
        record = self.records[index]
        if record.result(k) is not None:  # reported twice by a trainer: keep the first
            return
        status, values = run.status, None
        if status == "ok":  # the mean over the rung's seeds (search.rungs[k].seeds)
            values = rung_values(run.histories or [run.history], self.cfg)
            status = "ok" if values is not None else "diverged"
        epochs = int(len(run.history)) if not run.history.empty else 0
        objective, loss, metric = values or (None, None, None)
        result = RungResult(k, status, epochs, objective, run.error, loss, metric)
        record.rungs.append(result)
        meta = None
        if tell and k == 0:
            self._tell_evolution(record)
            meta = self._generator_state()
        self.db.add_result(index, result, run.history, meta)
        self._place(index, result)
        if status == "failed":
            self.log(f"search: {record.text} FAILED at rung {k}: {run.error}; recorded as "
                     "failed, no score, the search goes on")

    def _tell_evolution(self, record: CandidateRecord) -> None:
        """Evolution learns each candidate's rung-0 objective (None: diverged); a failed
        candidate is not told. An included expression is told as its genome in the space."""
        first = record.result(0)
        if self.evolution is None or first is None or first.status == "failed":
            return
        if record.genome is not None:
            candidate = Candidate.from_dict(record.genome)
        else:
            candidate = genome_of(parse(record.text), self.space)
            if candidate is None:
                self.log(f"search: evolution is not told {record.text}: no genome of the "
                         "search space computes it")
                return
        self.evolution.report(candidate, oriented(first.objective, rung_direction(self.cfg)))

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


def preactivation_range(cfg: Config, data: Dataset, percentile: float) -> tuple[float, float]:
    """The [p, 100-p] percentiles of the inputs of the network's `*_act` layers on a probe
    batch of training images, the architecture built with the identity activation."""
    keras.utils.set_random_seed(cfg.training.seeds[0])
    model = build_uncompiled_model(cfg, "linear", data.input_shape, data.num_classes)
    layers = [layer for layer in model.layers if layer.name.endswith("_act")]
    if not layers:
        raise UserError(f"model.architecture {cfg.model.architecture} names no layer *_act, so "
                        "the pre-activation range cannot be measured; set search.screen_range")
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    idx = probe_indices(len(data.x_train), cfg.diagnostics.probe_size, cfg.diagnostics.probe_seed)
    outputs = probe.predict(data.x_train[idx], batch_size=256, verbose=0)
    keras.backend.clear_session()
    values = np.concatenate([np.ravel(o) for o in outputs])
    low, high = np.percentile(values, [percentile, 100.0 - percentile])
    if not low < high:
        raise UserError(f"the measured pre-activation range [{low:g}, {high:g}] is empty; set "
                        "search.screen_range")
    return float(low), float(high)


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
