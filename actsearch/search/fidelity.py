"""Does the search's ranking mean anything? Every search measures it on samples it draws
itself, once its candidates are done (before the confirm run):

- retest: at each rung, `search.fidelity.retest_random` of the rung's scored candidates drawn
  at random and its `retest_top` best train again with other seeds (retest_seeds: as many as
  the rung's, none of them a rung's or the confirm run's);
- next rung: at each rung k above 0, `search.fidelity.probes` candidates drawn at random from
  everything rung k - 1 scored, promoted or not; a promoted one has its rung-k result already,
  the others train at rung k as a promoted one would (a probe: not a result of the rung, so it
  enters neither the rung's board nor the leaderboard, and promotes nothing), with the rung's
  seeds;
- confirm: `search.confirm.probes` of the last rung drawn at random and its `probe_top` best
  train once with the confirm run's protocol (its first seed).

Every one is scored as the rungs are (search.rung_metric at search.score's epoch, the mean over
its seeds) and validates on the rungs' held-out images (the search's data, search/
validation.py); whether a candidate is above chance is read from its validation accuracy.
None of these is a candidate. Each training is one transaction in the search's database
(table fidelity_runs), so a killed search resumes without redoing any; the draws are made
from the finished rungs with generators seeded by search.seed, so a rerun draws the same ones.
What the pairs say is actsearch/search/fidelity_figures.py.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from actsearch.config import Config
from actsearch.search.engine import engine_unsupported
from actsearch.search.rungs import (
    all_rung_seeds,
    confirm_config,
    confirm_seeds,
    oriented,
    rung_config,
    rung_direction,
    rung_seed,
    rung_seeds,
)
from actsearch.search.state import CandidateRecord, FidelityRun
from actsearch.search.trainers import EngineTrainer, FolderTrainer, RungRun, run_score

RETEST, PROBE, CONFIRM = "retest", "probe", "confirm"  # kinds of fidelity_runs
NEXT_RUNG = "next_rung"  # the kind of figure a probe measures


@dataclass
class Draw:
    """One measured pair of scores: `kind` retest (rung k against itself with another seed),
    next_rung (rung k against k + 1) or confirm (the last rung against the confirm
    protocol); `random` and `top` the candidates drawn (next_rung's top: the promoted)."""

    kind: str
    rung: int
    random: list[int]
    top: list[int]


def retest_seeds(cfg: Config, k: int) -> list[int]:
    """Rung k's retest seeds: as many as the rung trains with, the smallest above
    training.seeds[0] that no rung (search.rungs[].seeds) and no confirm seed uses, so a
    retest never repeats a training of the search."""
    used = all_rung_seeds(cfg) | set(confirm_seeds(cfg)[0])
    seeds, seed = [], rung_seed(cfg)
    while len(seeds) < len(rung_seeds(cfg, k)):
        seed += 1
        if seed not in used:
            seeds.append(seed)
    return seeds


def scored(records: list[CandidateRecord], k: int) -> list[CandidateRecord]:
    """The candidates with an objective at rung k (not failed), in proposal order."""
    return [r for r in records if r.trainable and not r.failed and r.result(k) is not None
            and r.result(k).objective is not None]


def _drawn(candidates: list[CandidateRecord], n: int, *key: int, seed: int) -> list[int]:
    """n of them at random (all when there are fewer), by a generator seeded with `key`."""
    indices = [r.index for r in candidates]
    if n >= len(indices):
        return indices
    rng = np.random.default_rng([seed, *key])
    return sorted(int(i) for i in rng.choice(indices, size=n, replace=False))


def _best(candidates: list[CandidateRecord], k: int, n: int, direction: str) -> list[int]:
    ranked = sorted(candidates, key=lambda r: (-oriented(r.result(k).objective, direction),
                                               r.index))
    return [r.index for r in ranked[:n]]


def draws(cfg: Config, records: list[CandidateRecord]) -> list[Draw]:
    """Every sample the measurement needs, from the rungs as they stand."""
    f, c, seed = cfg.search.fidelity, cfg.search.confirm, cfg.search.seed
    direction, n_rungs = rung_direction(cfg), len(cfg.search.rungs)
    out = []
    for k in range(n_rungs):
        rung = scored(records, k)
        out.append(Draw(RETEST, k, _drawn(rung, f.retest_random, 0, k, seed=seed),
                        _best(rung, k, f.retest_top, direction)))
    for k in range(1, n_rungs):
        below = scored(records, k - 1)
        promoted = [r.index for r in below if r.result(k) is not None]
        out.append(Draw(NEXT_RUNG, k - 1, _drawn(below, f.probes, 1, k, seed=seed), promoted))
    last = scored(records, n_rungs - 1)
    out.append(Draw(CONFIRM, n_rungs - 1, _drawn(last, c.probes, 2, seed=seed),
                    _best(last, n_rungs - 1, c.probe_top, direction)))
    return out


def trainings(cfg: Config, records: list[CandidateRecord]) -> list[tuple[str, int, list[int]]]:
    """(kind of fidelity run, rung, candidates) to train for the draws: a probe only where a
    candidate has no result at the rung."""
    out = []
    for draw in draws(cfg, records):
        wanted = sorted(set(draw.random) | (set(draw.top) if draw.kind != NEXT_RUNG else set()))
        if draw.kind == NEXT_RUNG:
            k = draw.rung + 1
            out.append((PROBE, k, [i for i in wanted if records[i].result(k) is None]))
        else:
            out.append((draw.kind, draw.rung, wanted))
    return [t for t in out if t[2]]


def protocol(cfg: Config, kind: str, k: int, texts: list[str]) -> tuple[Config, list[int]]:
    """The config and seeds a fidelity run trains with (its score: the mean over them); its
    own folder under search/fidelity (used by the folder path only)."""
    folder = cfg.out_dir / "search" / "fidelity"
    if kind == CONFIRM:
        derived, seeds, name = confirm_config(cfg, texts), confirm_seeds(cfg)[0][:1], "confirm"
    else:
        derived = rung_config(cfg, k, texts)
        seeds = retest_seeds(cfg, k) if kind == RETEST else rung_seeds(cfg, k)
        name = f"{kind}-rung{k}"
    derived = dataclasses.replace(
        derived, name=f"{cfg.name}-fidelity-{name}",
        model=dataclasses.replace(derived.model, activations=list(texts)),
        training=dataclasses.replace(derived.training, seeds=list(seeds)),
        output=dataclasses.replace(derived.output, dir=str(folder / name)))
    return derived, seeds


ACCURACY_COLUMNS = ("val_categorical_accuracy", "val_accuracy",
                    "val_sparse_categorical_accuracy")  # not binary_accuracy: 0.9 at chance


def last_accuracy(history: pd.DataFrame) -> float | None:
    """The last epoch's validation accuracy over the classes, if recorded (of a run with
    several seeds, the mean history: the mean accuracy)."""
    columns = [c for c in ACCURACY_COLUMNS if c in history.columns]
    if history.empty or not columns:
        return None
    value = history[columns[0]].iloc[-1]
    return None if pd.isna(value) else float(value)


def measure(search: Any) -> None:
    """Train every fidelity run the draws need and has no result yet; each result is one
    transaction with the measurement's CPU time so far (meta fidelity_cpu_seconds)."""
    cfg, records = search.cfg, search.records
    done = search.db.fidelity_runs()
    todo = [(kind, k, [i for i in members if (kind, k, i) not in done])
            for kind, k, members in trainings(cfg, records)]
    todo = [t for t in todo if t[2]]
    if not todo:
        return
    total = sum(len(m) for _, _, m in todo)
    search.log(f"search: measuring its fidelity: {total} trainings (retests, probes, confirm "
               "probes; not candidates)")
    started, trained = time.monotonic(), 0
    folder = search.trainer if isinstance(search.trainer, FolderTrainer) else None
    for kind, k, members in todo:
        derived, seeds = protocol(cfg, kind, k, [records[i].text for i in members])
        trainer = search.trainer
        if not (isinstance(trainer, EngineTrainer) and engine_unsupported(derived) is None):
            folder = folder or FolderTrainer(cfg, search.data, search.pool.entered, search.log)
            trainer = folder
        trainer.train_with(derived, seeds, [records[i] for i in members],
                           _recorder(search, kind, k))
        trained += len(members)
        search.log(f"search: fidelity: {kind} at rung {k} done, {trained}/{total} trainings "
                   f"in {time.monotonic() - started:.0f} s")


def _recorder(search: Any, kind: str, k: int) -> Callable[[int, RungRun], None]:
    """What a trainer calls with each fidelity run: it is committed with the measurement's
    CPU time so far."""
    clock = [time.process_time()]

    def on_result(index: int, run: RungRun) -> None:
        status, values = run_score(run, search.cfg)  # the rung's score, mean over its seeds
        objective = values[0] if values else None
        now = time.process_time()
        spent = (search.meta.get("fidelity_cpu_seconds") or 0.0) + now - clock[0]
        clock[0], search.meta["fidelity_cpu_seconds"] = now, spent
        search.db.add_fidelity_run(
            FidelityRun(kind, k, index, status, objective, last_accuracy(run.history),
                        run.error), {"fidelity_cpu_seconds": spent})
    return on_result
