"""`actsearch search`: discover activation functions, then test the best against baselines.

Candidates (expressions of x from actsearch/search/space.py, proposed by aging evolution or
sampled at random, after any `search.include` expressions) are screened over the range the
network's pre-activations take, then trained in batches through successive-halving rungs: every
candidate of a batch trains at rung 0, the best `keep` fraction (by the objective on the
validation data) trains again from scratch at rung 1 with its larger budget, and so on. Each
rung is an ordinary results folder, `<out>/search/rung<k>`, trained by the configured executor
(so every candidate has its history, and `execution.executor: fused` trains a batch as one
model). The top candidates are then retrained at full budget with several seeds beside the
baselines in `<out>/confirm`, an ordinary experiment with its statistics and report, and the
search says whether any candidate beats the best baseline after Holm's correction.

Scores. A candidate's score is its objective at the last rung it trained in, oriented so higher
is better (a loss is negated), minus PENALTY for each rung it did not reach; a candidate that
diverged or failed there has no score (worst). So the ranking is by rung reached, then by the
objective there. Evolution is told this score after each batch; refused and duplicate
candidates are never trained, never told to evolution and do not count in `search.candidates`.

Crash safety. `<out>/search/state.json` (written atomically after every proposal batch, every
finished candidate and every promotion) holds the evolution or sampling state, the candidates
with their screening verdicts and per-rung results, and the batches with their rungs; a rerun
continues from it, and the rung folders skip their finished trials, so nothing finished is
trained again and the same seed gives the same candidates.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml

from actsearch.activations import display_name
from actsearch.analysis import score_column
from actsearch.bundled import resolve_config
from actsearch.checks import check
from actsearch.config import Config, config_from_dict, load_config
from actsearch.data import Dataset, load_dataset
from actsearch.diagnostics import probe_indices
from actsearch.errors import UserError
from actsearch.executors import Log, get_executor
from actsearch.experiment import run_experiment
from actsearch.expressions import canonical, fingerprint, parse, screen
from actsearch.files import write_atomic
from actsearch.lock import results_lock
from actsearch.reporting.search_report import write_search_report
from actsearch.search.evolution import AgingEvolution
from actsearch.search.space import Candidate, SearchSpace, sample
from actsearch.statistics import ranking_verdict
from actsearch.storage import ResultsDir, same_experiment
from actsearch.training import build_uncompiled_model
from actsearch.trials import Status, Trial

STATE_VERSION = 1
PENALTY = 1000.0  # per rung not reached; objectives are far smaller than this
MAX_PROPOSALS_PER_CANDIDATE = 50  # refused/duplicate proposals tolerated before giving up
_SAMPLE_RETRIES = 200


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


# --- configs derived from the search's ---------------------------------------------------------

def _derived(cfg: Config, changes: dict[str, Any]) -> Config:
    """A copy of `cfg` for one rung or the confirm run: no search section, `changes` applied."""
    raw = cfg.to_dict()
    raw.pop("search", None)
    for dotted, value in changes.items():
        node = raw
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    return config_from_dict(raw)


def rung_config(cfg: Config, k: int, activations: list[str]) -> Config:
    rung = cfg.search.rungs[k]
    return _derived(cfg, {
        "name": f"{cfg.name}-rung{k}", "model.activations": activations or ["relu"],
        "training.epochs": rung.epochs, "training.seeds": [cfg.training.seeds[0]],
        "data.limit_train": rung.limit_train or cfg.data.limit_train,
        "output.dir": str(cfg.out_dir / "search" / f"rung{k}")})


def confirm_config(cfg: Config, candidates: list[str]) -> Config:
    c = cfg.search.confirm
    return _derived(cfg, {
        "name": f"{cfg.name}-confirm", "model.activations": [*c.baselines, *candidates],
        "training.epochs": c.epochs or cfg.training.epochs, "training.seeds": list(c.seeds),
        "data.limit_train": c.limit_train or cfg.data.limit_train,
        "output.dir": str(cfg.out_dir / "confirm")})


def search_space_of(cfg: Config) -> SearchSpace:
    s = cfg.search.space
    values = {k: v for k, v in (("unary", s.unary), ("binary", s.binary)) if v is not None}
    return SearchSpace(**values, units=s.units, constants=s.constants, beta=s.beta)


def check_search(cfg: Config) -> SearchSpace:
    """Everything a search needs, refused in one line before any work."""
    space = search_space_of(cfg)
    for text in cfg.search.include:
        parse(text)
    check(_derived(cfg, {"model.activations": list(cfg.search.confirm.baselines) or ["relu"]}))
    return space


# --- scores ------------------------------------------------------------------------------------

def rung_objective(history: pd.DataFrame, cfg: Config) -> float | None:
    """The objective on the validation data of a rung's trial: its last or best epoch."""
    column = f"val_{cfg.objective.metric}"
    if history.empty or column not in history:
        return None
    values = history[column].astype(float)
    if not np.isfinite(history["loss"].astype(float)).all() or not values.notna().any():
        return None
    if cfg.search.score == "last":
        value = float(values.iloc[-1])
    else:
        value = float(values.max() if cfg.objective.direction == "max" else values.min())
    return value if math.isfinite(value) else None


def _oriented(objective: float | None, direction: str) -> float | None:
    """Higher is better: a minimised objective is negated."""
    if objective is None:
        return None
    return objective if direction == "max" else -objective


def candidate_score(record: dict, n_rungs: int, direction: str) -> float | None:
    """Objective at the last rung trained (higher is better), minus PENALTY per rung missed."""
    rungs = record.get("rungs") or []
    if not rungs:
        return None
    reached = len(rungs) - 1
    oriented = _oriented(rungs[-1]["objective"], direction)
    return None if oriented is None else oriented - PENALTY * (n_rungs - 1 - reached)


def _sort_key(record: dict) -> tuple:
    score = record.get("score")
    return (score is None, -(score if score is not None else 0.0), record["index"])


# --- the search --------------------------------------------------------------------------------

def _search_defining(raw: dict) -> dict:
    """The parts of a config that decide which candidates and numbers a search gets (where
    it writes, how it runs, the budget and the confirm step may change); keys added to
    actsearch since a search began count as their defaults."""
    raw = json.loads(json.dumps(config_from_dict(raw).to_dict()))
    for key in ("output", "plots", "execution", "diagnostics"):
        raw.pop(key, None)
    raw["model"].pop("activations", None)
    search = raw.get("search") or {}
    for key in ("candidates", "confirm"):
        search.pop(key, None)
    return raw


class Search:
    """One search's state and the loop over batches; `state` is the JSON saved after each
    step (see the module docstring)."""

    def __init__(self, cfg: Config, space: SearchSpace, log: Log):
        self.cfg = cfg
        self.space = space
        self.log = log
        self.root = cfg.out_dir / "search"
        self.state_path = self.root / "state.json"
        self.executor = get_executor(cfg.execution.executor)
        self.n_rungs = len(cfg.search.rungs)
        self._data: dict[int | None, Dataset] = {}
        self.state = self._load_or_start()
        self.evolution: AgingEvolution | None = None
        self.rng: np.random.Generator | None = None
        if cfg.search.algorithm == "evolution":
            self.evolution = (AgingEvolution.from_state(self.state["evolution"])
                              if self.state["evolution"] else
                              AgingEvolution(space, cfg.search.population_size,
                                             cfg.search.sample_size, seed=cfg.search.seed))
        else:
            self.rng = np.random.default_rng(cfg.search.seed)
            if self.state["rng"]:
                self.rng.bit_generator.state = self.state["rng"]

    # state ---------------------------------------------------------------------------------

    def _defining(self) -> dict:
        return _search_defining(self.cfg.to_dict())

    def _load_or_start(self) -> dict:
        if self.state_path.is_file():
            try:
                state = json.loads(self.state_path.read_text())
            except ValueError:
                raise UserError(f"{self.state_path} is not valid JSON; use --out DIR for a new "
                                "search") from None
            if state.get("version") != STATE_VERSION:
                raise UserError(f"{self.state_path}: not a search state of this actsearch")
            if _search_defining(state.get("config") or {}) != self._defining():
                raise UserError(f"{self.cfg.out_dir} holds a search with a different config "
                                "(only search.candidates, search.confirm, model.activations, "
                                "output, plots, diagnostics and execution may change on "
                                "resume); use --out DIR")
            return state
        return {"version": STATE_VERSION, "config": self._defining(), "screen_range": None,
                "evolution": None, "rng": None, "included": 0, "exhausted": None,
                "candidates": [], "batches": []}

    def save(self) -> None:
        if self.evolution is not None:
            self.state["evolution"] = self.evolution.to_state()
        if self.rng is not None:
            self.state["rng"] = self.rng.bit_generator.state
        write_atomic(self.state_path, json.dumps(self.state, indent=1))

    @property
    def candidates(self) -> list[dict]:
        return self.state["candidates"]

    def trainable(self) -> list[dict]:
        return [c for c in self.candidates if c["screen_ok"] and c["duplicate_of"] is None]

    # data and screening ------------------------------------------------------------------

    def data(self, limit_train: int | None) -> Dataset:
        if limit_train not in self._data:
            self._data[limit_train] = load_dataset(
                _derived(self.cfg, {"data.limit_train": limit_train}).data)
        return self._data[limit_train]

    def screen_range(self) -> tuple[float, float]:
        if self.state["screen_range"] is None:
            s = self.cfg.search
            if s.screen_range is not None:
                low, high = s.screen_range
            else:
                low, high = preactivation_range(self.cfg, self.data(self.cfg.data.limit_train),
                                                s.screen_percentile)
                low, high = low * s.screen_scale, high * s.screen_scale
            self.state["screen_range"] = [float(low), float(high)]
            self.save()
        low, high = self.state["screen_range"]
        return low, high

    # proposals -----------------------------------------------------------------------------

    def _propose(self) -> tuple[str, str, dict | None]:
        """(source, expression text, genome or None) of the next candidate."""
        include = self.cfg.search.include
        if self.state["included"] < len(include):
            text = include[self.state["included"]]
            self.state["included"] += 1
            return "include", text, None
        if self.evolution is not None:
            candidate = self.evolution.propose()
            return "evolution", candidate.text, candidate.to_dict()
        seen = {c["fingerprint"] for c in self.candidates}
        for _ in range(_SAMPLE_RETRIES):
            candidate = sample(self.space, self.rng)
            if candidate.fingerprint not in seen:
                return "random", candidate.text, candidate.to_dict()
        raise UserError("no unseen candidate in the search space")

    def _add(self, source: str, text: str, genome: dict | None) -> dict:
        tree = parse(text)
        mark = fingerprint(tree)
        first = next((c for c in self.candidates if c["fingerprint"] == mark), None)
        record = {"index": len(self.candidates), "text": canonical(tree), "fingerprint": mark,
                  "source": source, "genome": genome, "batch": len(self.state["batches"]),
                  "duplicate_of": first["index"] if first else None, "screen_ok": False,
                  "screen": "", "rungs": [], "score": None}
        if first is not None:
            record["screen"] = f"duplicate of #{first['index']} ({first['text']})"
        else:
            verdict = screen(tree, *self.screen_range())
            record["screen_ok"], record["screen"] = verdict.ok, verdict.reason
        if self.evolution is not None:
            self.evolution.seen.add(mark)  # included expressions are never proposed again
        self.candidates.append(record)
        return record

    def _new_batch(self) -> dict | None:
        s = self.cfg.search
        wanted = min(s.batch, s.candidates - len(self.trainable()))
        members = []
        limit = MAX_PROPOSALS_PER_CANDIDATE * s.candidates
        while len(members) < wanted and len(self.candidates) < limit:
            try:
                record = self._add(*self._propose())
            except UserError as exc:
                self.state["exhausted"] = str(exc)
                break
            if not record["screen_ok"]:
                self.log(f"search: #{record['index']} {record['text']}: not trained "
                         f"({record['screen']})")
            elif record["duplicate_of"] is None:
                members.append(record["index"])
        if len(self.candidates) >= limit and len(members) < wanted:
            self.state["exhausted"] = f"{limit} proposals, mostly refused by screening"
        if not members:
            self.save()
            return None
        batch = {"index": len(self.state["batches"]), "rungs": [members], "done": False}
        self.state["batches"].append(batch)
        self.save()
        return batch

    # training ------------------------------------------------------------------------------

    def run(self) -> None:
        s = self.cfg.search
        if self.cfg.training.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.screen_range()
        while True:
            batches = self.state["batches"]
            if batches and not batches[-1]["done"]:
                batch = batches[-1]
            elif len(self.trainable()) < s.candidates and not self.state["exhausted"]:
                batch = self._new_batch()
                if batch is None:
                    break
            else:
                break
            self._run_batch(batch)
        if self.state["exhausted"]:
            self.log(f"search: stopped early: {self.state['exhausted']}")

    def _run_batch(self, batch: dict) -> None:
        keep = self.cfg.search.keep
        while True:
            k = len(batch["rungs"]) - 1
            members = batch["rungs"][k]
            self._train_rung(k, members)
            if k + 1 == self.n_rungs:
                break
            direction = self.cfg.objective.direction
            ranked = sorted((self.candidates[i] for i in members), key=lambda c: _sort_key(
                {"index": c["index"], "score": _oriented(c["rungs"][k]["objective"], direction)}))
            promoted = [c["index"] for c in ranked[:max(1, math.ceil(len(members) * keep))]
                        if c["rungs"][k]["objective"] is not None]
            if not promoted:
                break
            batch["rungs"].append(promoted)
            self.save()
        for i in batch["rungs"][0]:
            record = self.candidates[i]
            if self.evolution is not None and record["genome"] is not None:
                self.evolution.report(Candidate.from_dict(record["genome"]), record["score"])
        batch["done"] = True
        self.save()

    def _train_rung(self, k: int, members: list[int]) -> None:
        entered = [c["text"] for c in self.candidates
                   if any(c["index"] in b["rungs"][k] for b in self.state["batches"]
                          if len(b["rungs"]) > k)]
        cfg = rung_config(self.cfg, k, entered)
        results = ResultsDir(cfg.out_dir)
        prepare_rung(results, cfg)
        seed = cfg.training.seeds[0]
        for i in members:  # a failed trial (a lost Ray worker) is trained again on resume
            rungs = self.candidates[i]["rungs"]
            if len(rungs) > k and rungs[k]["status"] == str(Status.FAILED):
                del rungs[k:]
        todo = [self.candidates[i] for i in members if len(self.candidates[i]["rungs"]) <= k]
        if not todo:
            return
        trials = [Trial(display_name(c["text"]), seed, index=j, total=len(todo))
                  for j, c in enumerate(todo, start=1)]
        by_id = {t.id: c for t, c in zip(trials, todo, strict=True)}

        def collect(message: str) -> None:  # the executor logs right after saving each record
            for trial_id, record in by_id.items():
                if len(record["rungs"]) <= k and results.load_record(trial_id) is not None:
                    self._finish(record, k, trial_id, results, cfg)

        data = self.data(cfg.data.limit_train)
        self.executor.run(trials, cfg, data, results, verbose=0, log=collect)
        collect("")

    def _finish(self, record: dict, k: int, trial_id: str, results: ResultsDir,
                cfg: Config) -> None:
        saved = results.load_record(trial_id)
        objective = rung_objective(results.load_history(trial_id), cfg)
        record["rungs"].append({"trial": trial_id, "status": str(saved.status),
                                "epochs": saved.epochs_run, "objective": objective})
        record["score"] = candidate_score(record, self.n_rungs, self.cfg.objective.direction)
        self.save()
        self.log(self._progress(record, k, objective))

    def _progress(self, record: dict, k: int, objective: float | None) -> str:
        trained = sum(1 for c in self.trainable() if c["rungs"])
        value = "no score (diverged or failed)" if objective is None else f"{objective:.4f}"
        best = min(self.trainable(), key=_sort_key)
        best_text = ("none yet" if best["score"] is None else
                     f"{best['text']} (rung {len(best['rungs'])}, "
                     f"{best['rungs'][-1]['objective']:.4f})")
        return (f"search: {trained}/{self.cfg.search.candidates} candidates, rung {k + 1}/"
                f"{self.n_rungs}: {record['text']}: val_{self.cfg.objective.metric} {value}; "
                f"best so far {best_text}")


def prepare_rung(results: ResultsDir, cfg: Config) -> None:
    """Claim a rung folder. Its config.yaml lists every candidate that entered the rung (it grows
    batch by batch), so `actsearch plot` and `load_results` read it as any results folder; the
    rest of the config must match what trained the folder so far."""
    path = results.root / "config.yaml"
    new = cfg.to_dict()
    if path.is_file():
        old = yaml.safe_load(path.read_text()) or {}
        any_one = ["relu"]  # the candidates differ by design; the rest must match
        strip = {"model": {**(old.get("model") or {}), "activations": any_one}}
        if not same_experiment({**old, **strip},
                               {**new, "model": {**new["model"], "activations": any_one}}):
            raise UserError(f"{results.root} was trained with another config; use --out DIR")
    else:
        results.save_environment({"search_rung": cfg.name})
    write_atomic(path, yaml.safe_dump(new, sort_keys=False))


def preactivation_range(cfg: Config, data: Dataset, percentile: float) -> tuple[float, float]:
    """The [p, 100-p] percentiles of the inputs of the network's `*_act` layers on a probe
    batch of training images, the architecture built with the identity activation."""
    keras.utils.set_random_seed(cfg.training.seeds[0])
    model = build_uncompiled_model(cfg, "linear")
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


# --- outputs -----------------------------------------------------------------------------------

def leaderboard(search: Search) -> pd.DataFrame:
    """One row per candidate, best first (refused and duplicates last, in proposal order)."""
    metric = search.cfg.objective.metric
    rows = []
    for record in sorted(search.candidates, key=_sort_key):
        row = {"expression": record["text"], "fingerprint": record["fingerprint"],
               "source": record["source"], "batch": record["batch"],
               "screening": ("ok" if record["screen_ok"] else "duplicate"
                             if record["duplicate_of"] is not None else "refused"),
               "screening_detail": record["screen"], "rung_reached": len(record["rungs"]),
               "score": record["score"]}
        for k in range(search.n_rungs):
            entry = record["rungs"][k] if k < len(record["rungs"]) else None
            row[f"val_{metric}_rung{k}"] = entry["objective"] if entry else None
        row["trials"] = " ".join(f"rung{k}/{e['trial']}" for k, e in enumerate(record["rungs"]))
        row["index"] = record["index"]
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table.insert(0, "rank", [i + 1 if s is not None else None
                                 for i, s in enumerate(table["score"])])
        table["rank"] = table["rank"].astype("Int64")
    return table


def progress_table(search: Search) -> pd.DataFrame:
    """Candidates in the order trained: the final-rung objective and the best so far."""
    metric, direction = search.cfg.objective.metric, search.cfg.objective.direction
    rows, best = [], float("nan")
    for n, record in enumerate((c for c in search.trainable() if c["rungs"]), start=1):
        final = (record["rungs"][-1]["objective"]
                 if len(record["rungs"]) == search.n_rungs else None)
        if final is not None and (math.isnan(best) or (final > best if direction == "max"
                                                       else final < best)):
            best = final
        first = record["rungs"][0]["objective"]
        rows.append({"candidates": n, "expression": record["text"],
                     f"val_{metric}_rung0": first, "final": final, "best_so_far": best})
    return pd.DataFrame(rows)


def claim(confirm_summary: pd.DataFrame, cfg: Config, confirm_cfg: Config,
          candidates: list[str]) -> tuple[str, bool]:
    """Whether a candidate beats every baseline after Holm, in one plain sentence."""
    column = score_column(confirm_cfg)
    baselines = [display_name(b) for b in cfg.search.confirm.baselines]
    verdict = ranking_verdict(confirm_summary, column, cfg.objective.direction == "max")
    if verdict is None:
        return "No confirmed result: no trial of the confirm run finished.", False
    by_name = {c.activation: c for c in verdict.comparisons}
    if not baselines:
        return (f"{verdict.best} has the best mean {column}; no baselines were trained, so "
                "nothing is claimed against them.", False)
    if verdict.best in baselines:
        return (f"No: the best mean {column} is the baseline {verdict.best}; no candidate "
                "beats the best baseline.", False)
    tests = [by_name[b] for b in baselines if b in by_name]
    p_values = ", ".join(f"{c.activation} p_Holm = {c.p_adjusted:.2g}" for c in tests)
    if tests and all(c.significant for c in tests):
        return (f"Yes: {verdict.best} beats every baseline on {column} ({verdict.test}, "
                f"Holm-adjusted: {p_values}).", True)
    tied = [c.activation for c in tests if not c.significant] or ["the baselines"]
    tied_text = " and ".join(filter(None, [", ".join(tied[:-1]), tied[-1]]))
    return (f"No claim: {verdict.best} has the best mean {column}, but {tied_text} cannot be told "
            f"apart from it after Holm's correction ({p_values or 'not testable'}); more "
            f"seeds (search.confirm.seeds) may settle it.", False)


def run_search(cfg: Config, quiet: bool = False, log: Log = print) -> SearchOutcome:
    """Search, confirm, report; resumes a search interrupted in the same --out folder."""
    space = check_search(cfg)
    executor = get_executor(cfg.execution.executor)
    executor.require()
    for k in range(len(cfg.search.rungs)):
        executor.check(rung_config(cfg, k, ["relu"]))
    with results_lock(cfg.out_dir):
        search = Search(cfg, space, log)
        s = cfg.search
        log(f"actsearch search: {cfg.name}: {s.candidates} candidates ({s.algorithm}, seed "
            f"{s.seed}) in batches of {s.batch} through {len(s.rungs)} rungs "
            f"({', '.join(f'{r.epochs} epochs' for r in s.rungs)}), keep {s.keep:g}; "
            f"executor {cfg.execution.executor}; writing to {cfg.out_dir}")
        search.run()
        board = leaderboard(search)
        top = [r["expression"] for _, r in board.iterrows()
               if r["score"] is not None and not pd.isna(r["score"])][:s.confirm.top]
        verdict, beats, confirm_path = "No candidate was confirmed (search.confirm.top 0).", \
            False, None
        if top:
            ccfg = confirm_config(cfg, top)
            log(f"actsearch search: confirming {', '.join(top)} against "
                f"{', '.join(s.confirm.baselines) or 'no baselines'} with seeds "
                f"{list(s.confirm.seeds)}")
            results = run_experiment(ccfg, quiet=True, log=log)
            confirm_path = results.root
            summary_file = results.root / "summary.csv"
            summary = (pd.read_csv(summary_file) if summary_file.stat().st_size > 1
                       else pd.DataFrame())
            verdict, beats = claim(summary, cfg, ccfg, [display_name(t) for t in top])
        elif board.empty or board["score"].isna().all():
            verdict = "No candidate finished with a score, so none was confirmed."
        paths = write_search_report(
            search.root, title=f"{cfg.name}: activation search", board=board,
            progress=progress_table(search), best=top or list(board["expression"][:3]),
            baselines=list(s.confirm.baselines), intro=_intro(search, verdict),
            config_text=yaml.safe_dump(cfg.to_dict(), sort_keys=False),
            objective=f"val_{cfg.objective.metric}")
        log(f"actsearch search: {verdict}")
        log(f"actsearch search: done. Leaderboard: {paths['leaderboard']}; report: "
            f"{paths['report']}")
        return SearchOutcome(cfg.out_dir, board, paths["report"], paths["summary"],
                             confirm_path, verdict, beats)


def _intro(search: Search, verdict: str) -> list[str]:
    cfg, s = search.cfg, search.cfg.search
    low, high = search.state["screen_range"]
    trained = len(search.trainable())
    refused = sum(1 for c in search.candidates if not c["screen_ok"] and c["duplicate_of"] is None)
    dupes = sum(1 for c in search.candidates if c["duplicate_of"] is not None)
    rungs = "; ".join(f"rung {k}: {r.epochs} epoch(s) on "
                      f"{r.limit_train or cfg.data.limit_train or 'all'} images"
                      for k, r in enumerate(s.rungs))
    text = [f"Verdict: {verdict}",
            f"{trained} candidates trained ({s.algorithm}, seed {s.seed}), {refused} refused by "
            f"screening over [{low:.3g}, {high:.3g}], {dupes} duplicates not trained. "
            f"Successive halving in batches of {s.batch}, keeping {s.keep:g} of each rung: "
            f"{rungs}. Candidates are ranked by the rung reached, then val_"
            f"{cfg.objective.metric} ({cfg.objective.direction}, {s.score} epoch) there; the "
            f"confirm run ({cfg.out_dir / 'confirm'}) ranks on the test set."]
    if cfg.data.validation == "test":
        text.append("Caution: data.validation is test, so the search selected on the test set "
                    "that the confirm run reports; use data.validation: split for an honest "
                    "claim.")
    if search.state["exhausted"]:
        text.append(f"The search stopped early: {search.state['exhausted']}.")
    return text


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

