"""The results folder: its layout, the rules for reusing it, and crash-safe per-epoch tables
and trial records.

Layout (later tooling reads these names):
    config.yaml, env.json                 the resolved config, the software and machine
    histories/<trial>.csv                 one row per finished epoch, rewritten each epoch
    diagnostics/<trial>.csv               the probe's rows, epoch 0 and every epoch
    trials/<trial>.json                   written last: the trial is finished
    state/<trial>/                        Keras' resume state while a trial trains
    models/<trial>.keras                  with output.save_models
    histories.csv, summary.csv, statistics.csv, diagnostics.csv, summary.md, report.html,
    plots/                                the report (rebuilt from the files above)
Every file is written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from actsearch.config import Config, config_from_dict
from actsearch.environment import environment
from actsearch.errors import UserError
from actsearch.files import write_atomic
from actsearch.trials import TrialResult

RESULTS_FORMAT = 2  # 2: binary_crossentropy on the probabilities, gelu the exact form
PER_TRIAL_DIRS = ("histories", "diagnostics", "trials", "state", "models", "plots",
                  "tensorboard")
REPORT_FILES = ("histories.csv", "diagnostics.csv", "summary.csv", "statistics.csv",
                "summary.md", "report.html")


class EpochTable:
    """A per-epoch CSV that survives crashes: rewritten atomically after each epoch, and on
    resume cut back to the epochs the restored weights have seen (rows an interrupted
    attempt wrote past that point are dropped), so no epoch is ever listed twice."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []

    def start(self, completed_epochs: int) -> None:
        previous = pd.read_csv(self.path) if self.path.is_file() else pd.DataFrame()
        if not previous.empty:
            previous = previous[previous["epoch"] <= completed_epochs]
        self.rows = previous.to_dict("records")

    def extend(self, rows: list[dict]) -> None:
        self.rows.extend(rows)
        write_atomic(self.path, pd.DataFrame(self.rows).to_csv(index=False))


class ResultsDir:
    """Paths inside one results folder, its trial records, and the rules for reusing it."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def history_path(self, trial_id: str) -> Path:
        return self.root / "histories" / f"{trial_id}.csv"

    def record_path(self, trial_id: str) -> Path:
        return self.root / "trials" / f"{trial_id}.json"

    def backup_path(self, trial_id: str) -> Path:
        return self.root / "state" / trial_id

    def diagnostics_path(self, trial_id: str) -> Path:
        return self.root / "diagnostics" / f"{trial_id}.csv"

    def model_path(self, trial_id: str) -> Path:
        return self.root / "models" / f"{trial_id}.keras"

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"

    def prepare(self, cfg: Config, overwrite: bool) -> None:
        """Claim the folder for this config. A folder of another config is refused, so two
        experiments never mix in one summary; the same config resumes where it stopped, and
        may grow: more (or fewer) activations, seeds and sweep values train only the trials
        not yet in the folder (a trial's id says all that differs between trials)."""
        config_file = self.root / "config.yaml"
        if config_file.exists() and not overwrite:
            previous = yaml.safe_load(config_file.read_text())
            before, now = list((previous or {}).get("sweep") or {}), list(cfg.sweep)
            if before != now:
                raise UserError(
                    f"{self.root} was swept over [{', '.join(before)}], this config sweeps "
                    f"[{', '.join(now)}]: its trials would mean something else; add values, "
                    f"not keys (or reorder them), or use --out DIR or --overwrite")
            if not same_experiment(previous, cfg.to_dict()):
                if _changed(previous, cfg) == " (training.shuffle differs)":
                    raise UserError(_SHUFFLE_CHANGED.format(root=self.root, **_shuffles(
                        previous, cfg)))
                raise UserError(
                    f"{self.root} holds results of a different config{_changed(previous, cfg)};"
                    f" use --out DIR for a new folder or --overwrite to replace them"
                )
            changed = meaning_changed(self.root, previous)
            if changed:
                raise UserError(f"{self.root} was trained by an older actsearch whose {changed}; "
                                f"use --out DIR for a new folder or --overwrite to replace them")
        if overwrite and self.root.exists():
            for sub in PER_TRIAL_DIRS:
                shutil.rmtree(self.root / sub, ignore_errors=True)
            for name in (*REPORT_FILES, "config.yaml"):
                (self.root / name).unlink(missing_ok=True)
        write_atomic(config_file, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def save_environment(self, extra: dict[str, Any]) -> None:
        """env.json: the software and machine (and `extra`, e.g. the data sizes)."""
        env = {"results_format": RESULTS_FORMAT, **environment(), **extra}
        write_atomic(self.root / "env.json", json.dumps(env, indent=2))

    def load_config(self) -> Config:
        path = self.root / "config.yaml"
        if not path.is_file():
            raise UserError(f"{self.root} is not an actsearch results folder (no config.yaml)")
        return config_from_dict(yaml.safe_load(path.read_text()))

    def load_record(self, trial_id: str) -> TrialResult | None:
        """The record of a finished trial, or None while it is not finished."""
        path = self.record_path(trial_id)
        if not path.is_file():
            return None
        return TrialResult(**json.loads(path.read_text()))

    def save_record(self, result: TrialResult) -> None:
        write_atomic(self.record_path(result.trial_id), json.dumps(asdict(result), indent=2))

    def load_history(self, trial_id: str) -> pd.DataFrame:
        path = self.history_path(trial_id)
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()


# Sections that only change where or how results are shown; a folder resumes across them.
_PRESENTATION_KEYS = {("output",), ("plots",), ("statistics",), ("execution",),
                      ("diagnostics",), ("objective",),
                      ("search",),  # a search section changes no trial of a run
                      ("pruning",)}  # stops trials, changes no number of those it keeps
# ... except these, which change the numbers
_NUMERIC_EXECUTION_KEYS = ("mixed_precision",)


# The axes a study grows along: a trial's id names its activation, sweep point and seed.
_AXIS_KEYS = (("model", "activations"), ("training", "seeds"))


def same_experiment(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Do two configs (as written to config.yaml) mean the same for every trial they share?
    Activations, seeds and sweep values may differ (a study grows, each trial's id says
    which it is), and so may the base value of a swept key (every trial sets its own); the
    swept keys must match. Keys added to actsearch since a folder was written count as their
    defaults, except where the old behaviour differed from the new default (see
    `_with_defaults`)."""
    stripped = _defining(a)
    return stripped is not None and stripped == _defining(b)


def _defining(raw: dict[str, Any]) -> dict[str, Any] | None:
    """What decides the meaning of a config's trials (see same_experiment); None if it is
    no valid config."""
    def strip(d: dict[str, Any]) -> dict[str, Any] | None:
        d = _with_defaults(d)
        if d is None:
            return None
        d["sweep"] = list(d.get("sweep") or {})  # the keys; values are points, like seeds
        for dotted in (*_AXIS_KEYS, *(tuple(key.split(".")) for key in d["sweep"])):
            node = d
            for part in dotted[:-1]:
                node = node[part]
            node.pop(dotted[-1], None)
        kept = {k: v for k, v in d.items() if (k,) not in _PRESENTATION_KEYS}
        training = d["training"]
        if training.get("restore_best") or training.get("early_stopping_patience"):
            kept["objective"] = d["objective"]  # what they watch changes the numbers
        kept["numeric_execution"] = {k: bool(d["execution"].get(k))
                                     for k in _NUMERIC_EXECUTION_KEYS}
        return kept

    return strip(raw)


_SHUFFLE_CHANGED = ("{root} was trained with training.shuffle {before}, this config has {now}: "
                    "its remaining epochs would see other batches (folders made before "
                    "training.shuffle existed used Keras 3's one order for the whole run); "
                    "continue it with --set training.shuffle={before}, or use --out DIR or "
                    "--overwrite")


def _shuffles(previous: dict[str, Any], cfg: Config) -> dict[str, str]:
    def text(value: Any) -> str:
        return "false" if value is False else str(value)

    before = (_with_defaults(previous) or {}).get("training", {}).get("shuffle")
    return {"before": text(before), "now": text(cfg.training.shuffle)}


def _changed(previous: dict[str, Any], cfg: Config) -> str:
    """` (training.epochs differs)`: the first keys that make two configs differ, if known."""
    a, b = _defining(previous), _defining(cfg.to_dict())
    if a is None or b is None:
        return ""
    keys = _differing(a, b)
    return f" ({', '.join(keys[:3])} {'differ' if len(keys) > 1 else 'differs'})" if keys else ""


def _differing(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in dict.fromkeys([*a, *b])
                for k in _differing(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".")]


def _with_defaults(raw: dict[str, Any]) -> dict[str, Any] | None:
    """`raw` with every key, as a Config would have it; None if it is no valid config.
    Folders written before a key existed ran as follows, not as today's default: before
    `training.optimizer.fused_kernel`, with Keras' own Adam update; before `training.shuffle`,
    with Keras 3's one batch order for the whole run (`once`); before `objective`,
    restore-best and early stopping watched the validation loss."""
    raw = copy.deepcopy(raw)
    training = raw.setdefault("training", {}) or {}
    optimizer = training.setdefault("optimizer", {}) or {}
    optimizer.setdefault("fused_kernel", False)
    training.setdefault("shuffle", "once")
    raw.setdefault("objective", {"metric": "loss", "mode": "min"})
    try:
        return config_from_dict(raw).to_dict()
    except UserError:
        return None


def meaning_changed(root: Path, previous_config: dict[str, Any]) -> str | None:
    """What a folder from before format 2 trained under a name that now means something else
    (resuming it would train another function from the middle of its histories), or None."""
    env_path = root / "env.json"
    env = json.loads(env_path.read_text()) if env_path.is_file() else {}
    if env.get("results_format", 1) >= RESULTS_FORMAT:
        return None
    training = previous_config.get("training") or {}
    if training.get("loss", "binary_crossentropy") == "binary_crossentropy":
        return ("binary_crossentropy was Keras 3's logits form (now "
                "binary_crossentropy_on_logits)")
    if "gelu" in ((previous_config.get("model") or {}).get("activations") or []):
        return "gelu was the tanh approximation (now gelu-tanh)"
    return None
