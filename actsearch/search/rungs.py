"""The configs a search derives from its own (one per rung, one for the confirm run), the
objective a rung reads from a history, and the refusals a search makes before any work."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import yaml

from actsearch.config import Config, config_from_dict
from actsearch.errors import UserError
from actsearch.files import write_atomic
from actsearch.storage import ResultsDir, same_experiment


def derived_config(cfg: Config, changes: dict[str, Any]) -> Config:
    """A copy of `cfg` for one rung or the confirm run: no search section, `changes` applied.
    statistics.reference stays only where the copy trains it (the confirm run beside its
    baselines): a rung or a fidelity probe compares no activation against it."""
    raw = cfg.to_dict()
    raw.pop("search", None)
    for dotted, value in changes.items():
        node = raw
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    if (raw.get("statistics") or {}).get("reference") not in raw["model"]["activations"]:
        raw.pop("statistics", None)
    return config_from_dict(raw)


def rung_seed(cfg: Config) -> int:
    """Every rung trains with the first of training.seeds (and the next ones, rung_seeds)."""
    return cfg.training.seeds[0]


def rung_seeds(cfg: Config, k: int) -> list[int]:
    """The seeds every candidate trains with at rung k, the same for all: training.seeds[0]
    and the consecutive ones, search.rungs[k].seeds in all."""
    return [rung_seed(cfg) + i for i in range(cfg.search.rungs[k].seeds)]


def all_rung_seeds(cfg: Config) -> set[int]:
    return {s for k in range(len(cfg.search.rungs)) for s in rung_seeds(cfg, k)}


def transfer_changes(model: dict[str, Any], data: dict[str, Any],
                     limit_train: int | None) -> dict[str, Any]:
    """The dotted changes of a rung's or the confirm run's model / data overrides; its own
    limit_train, where set, wins over both. Another architecture starts from its own depth
    and width (the base network's are its own) unless the override gives them."""
    changes: dict[str, Any] = {}
    if "architecture" in model:
        changes = {"model.depth": None, "model.width": None}
    changes |= {**{f"model.{k}": v for k, v in model.items()},
               **{f"data.{k}": v for k, v in data.items()}}
    if limit_train is not None:
        changes["data.limit_train"] = limit_train
    return changes


def rung_config(cfg: Config, k: int, activations: list[str]) -> Config:
    rung = cfg.search.rungs[k]
    return derived_config(cfg, {
        **transfer_changes(rung.model, rung.data, rung.limit_train),
        "name": f"{cfg.name}-rung{k}", "model.activations": activations or ["relu"],
        "training.epochs": rung.epochs, "training.seeds": rung_seeds(cfg, k),
        "output.dir": str(cfg.out_dir / "search" / f"rung{k}")})


def confirm_seeds(cfg: Config) -> tuple[list[int], str | None]:
    """search.confirm.seeds without the rungs' seed: the luck that selected a candidate must
    not carry into its confirmation. A seed the rungs used is shifted to the next unused one
    (and the returned note says so); the list keeps its length."""
    wanted = list(cfg.search.confirm.seeds)
    used = all_rung_seeds(cfg)
    clashing = [s for s in wanted if s in used]
    if not clashing:
        return wanted, None
    taken = {s for s in wanted if s not in used} | used
    seeds, spare = [], max(taken) + 1
    for s in wanted:
        if s in used:
            while spare in taken:
                spare += 1
            s = spare
            taken.add(s)
        seeds.append(s)
    which = (f"the rungs' seed {clashing[0]} (training.seeds[0])" if len(used) == 1 else
             f"the rungs' seeds {sorted(clashing)}")
    return seeds, (f"search.confirm.seeds {wanted} include {which}; the confirm run uses "
                   f"seeds {seeds} instead")


def confirm_config(cfg: Config, candidates: list[str]) -> Config:
    c = cfg.search.confirm
    return derived_config(cfg, {
        **transfer_changes(c.model, c.data, c.limit_train),
        "name": f"{cfg.name}-confirm", "model.activations": [*c.baselines, *candidates],
        "training.epochs": c.epochs or cfg.training.epochs,
        "training.seeds": confirm_seeds(cfg)[0],
        "output.dir": str(cfg.out_dir / "confirm")})


def refuse_test_selection(cfg: Config) -> None:
    """A search selects on its rungs' validation data: where that is a test set, a winner's
    test score would be chosen, not measured (and the confirm run may test on those images).
    Likewise a confirm run validated on the test set must not pick epochs (restore_best, early
    stopping) or drop trials (pruning) by it."""
    if cfg.search.allow_test_selection:
        return
    for k, rung in enumerate(cfg.search.rungs):
        if rung_config(cfg, k, []).data.validation == "test":
            where = f"search.rungs[{k}].data.validation" if "validation" in rung.data \
                else "data.validation"
            raise UserError(f"a search selects candidates on the validation data, and {where} "
                            "is test: set it to split (the confirm run then tests on unseen "
                            "images), or search.allow_test_selection: true")
    confirm = confirm_config(cfg, [] if cfg.search.confirm.baselines else ["relu"])
    if confirm.data.validation == "test":
        t = confirm.training
        selecting = [name for name, on in (
            ("training.restore_best", t.restore_best),
            ("training.early_stopping_patience", t.early_stopping_patience is not None),
            ("pruning.enabled", confirm.pruning.enabled)) if on]
        if selecting:
            where = "search.confirm.data.validation" if "validation" in cfg.search.confirm.data \
                else "data.validation"
            raise UserError(f"the confirm run validates on the test set ({where} is test), and "
                            f"{' and '.join(selecting)} would choose its epochs or trials by "
                            "test scores it then reports: turn them off, set that validation "
                            "to split, or search.allow_test_selection: true")


def rung_column(cfg: Config) -> str:
    """The history column a rung scores (search.rung_metric): val_loss or val_<metric>."""
    return "val_loss" if cfg.search.rung_metric == "loss" else f"val_{cfg.objective.metric}"


def rung_direction(cfg: Config) -> str:
    """min for the loss, else objective.direction."""
    return "min" if cfg.search.rung_metric == "loss" else cfg.objective.direction


def rung_values(histories: list[pd.DataFrame], cfg: Config
                ) -> tuple[float, float | None, float | None] | None:
    """(score, validation loss, validation objective.metric) of a candidate at a rung: each
    at the epoch search.score picks by the score (last, or best), averaged over its seeds'
    histories; None when any seed's loss was not finite or its score is missing."""
    column, metric = rung_column(cfg), f"val_{cfg.objective.metric}"
    per_seed = []
    for history in histories:
        if history.empty or column not in history or "loss" not in history:
            return None
        values = history[column].astype(float)
        if not np.isfinite(history["loss"].astype(float)).all() or not values.notna().any():
            return None
        if cfg.search.score == "last":
            at = len(values) - 1
        else:
            best = np.nanargmax if rung_direction(cfg) == "max" else np.nanargmin
            at = int(best(values.to_numpy()))
        score = float(values.iloc[at])
        if not math.isfinite(score):
            return None
        per_seed.append((score, _at(history, "val_loss", at), _at(history, metric, at)))
    if not per_seed:
        return None
    scores, losses, metrics = zip(*per_seed, strict=True)
    return float(np.mean(scores)), _mean(losses), _mean(metrics)


def _mean(values: tuple[float | None, ...]) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def _at(history: pd.DataFrame, column: str, row: int) -> float | None:
    if column not in history:
        return None
    value = float(history[column].iloc[row])
    return value if math.isfinite(value) else None


def oriented(objective: float | None, direction: str) -> float | None:
    """Higher is better: a minimised objective is negated."""
    if objective is None:
        return None
    return objective if direction == "max" else -objective


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


def refuse_unsupported_seeds(cfg: Config) -> None:
    """Several seeds per rung train on the engine or the local folder path, not on Ray."""
    for k, rung in enumerate(cfg.search.rungs):
        if rung.seeds > 1 and cfg.execution.executor == "ray":
            raise UserError(f"search.rungs[{k}].seeds {rung.seeds}: several seeds per rung are "
                            "not supported with execution.executor ray; use 1 or another "
                            "executor")
