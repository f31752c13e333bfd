"""The results folder: its layout, crash-safe writes, and the tables built from it.

Layout (later tooling reads these names):
    config.yaml, env.json                 the resolved config, the software and machine
    histories/<trial>.csv                 one row per finished epoch, rewritten each epoch
    trials/<trial>.json                   written last: the trial is finished
    histories.csv, summary.csv, summary.md, plots/
Every file is written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from actsearch.activations import file_safe
from actsearch.config import Config, config_from_dict
from actsearch.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600


def write_atomic(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


@dataclass(frozen=True)
class Trial:
    """One training run: an activation and a seed."""

    activation: str
    seed: int
    index: int = 0  # position in the sweep, for progress lines
    total: int = 1

    @property
    def id(self) -> str:
        return f"{file_safe(self.activation)}-seed{self.seed}"


@dataclass
class TrialResult:
    """What a finished trial leaves behind besides its history."""

    trial_id: str
    activation: str
    seed: int
    status: str  # "ok", "diverged", "failed" (never finished: error says why; rerun retries)
    epochs_run: int
    params: int
    test: dict[str, float] = field(default_factory=dict)
    diverged_epoch: int | None = None
    seconds: float = 0.0
    error: str | None = None  # why a failed trial failed
    attempts: int = 1  # more than 1 when a lost worker made the trial start again


class ResultsDir:
    """Paths inside one results folder, and the rules for reusing a folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def history(self, trial_id: str) -> Path:
        return self.root / "histories" / f"{trial_id}.csv"

    def trial_record(self, trial_id: str) -> Path:
        return self.root / "trials" / f"{trial_id}.json"

    def backup_dir(self, trial_id: str) -> Path:
        return self.root / "state" / trial_id

    def diagnostics(self, trial_id: str) -> Path:
        return self.root / "diagnostics" / f"{trial_id}.csv"

    def model_path(self, trial_id: str) -> Path:
        return self.root / "models" / f"{trial_id}.keras"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def prepare(self, cfg: Config, overwrite: bool) -> None:
        """Claim the folder for this config. A folder of another config is refused, so two
        experiments never mix in one summary; the same config resumes where it stopped."""
        config_file = self.root / "config.yaml"
        if config_file.exists() and not overwrite:
            previous = yaml.safe_load(config_file.read_text())
            if not same_experiment(previous, cfg.to_dict()):
                raise UserError(
                    f"{self.root} holds results of a different config; use --out DIR for a "
                    f"new folder or --overwrite to replace them"
                )
            changed = meaning_changed(self.root, previous)
            if changed:
                raise UserError(f"{self.root} was trained by an older actsearch whose {changed}; "
                                f"use --out DIR for a new folder or --overwrite to replace them")
        if overwrite and self.root.exists():
            for sub in ("histories", "diagnostics", "trials", "state", "models", "plots"):
                _remove_tree(self.root / sub)
            for name in ("histories.csv", "diagnostics.csv", "summary.csv", "statistics.csv",
                         "summary.md", "report.html", "config.yaml"):
                (self.root / name).unlink(missing_ok=True)
        write_atomic(config_file, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        write_atomic(self.root / "env.json", json.dumps(environment(), indent=2))

    def load_config(self) -> Config:
        path = self.root / "config.yaml"
        if not path.is_file():
            raise UserError(f"{self.root} is not an actsearch results folder (no config.yaml)")
        return config_from_dict(yaml.safe_load(path.read_text()))

    def finished(self, trial_id: str) -> TrialResult | None:
        path = self.trial_record(trial_id)
        if not path.is_file():
            return None
        return TrialResult(**json.loads(path.read_text()))

    def record(self, result: TrialResult) -> None:
        write_atomic(self.trial_record(result.trial_id), json.dumps(asdict(result), indent=2))

    def read_history(self, trial_id: str) -> pd.DataFrame:
        path = self.history(trial_id)
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()


# Keys that only change where or how results are shown; a folder can be resumed across them.
_PRESENTATION_KEYS = {("output",), ("plots",), ("execution",), ("diagnostics",)}
# ... except these, which change the numbers
_NUMERIC_EXECUTION_KEYS = ("mixed_precision",)


def same_experiment(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def strip(d: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in d.items() if (k,) not in _PRESENTATION_KEYS}
        execution = d.get("execution") or {}
        kept["numeric_execution"] = {k: bool(execution.get(k)) for k in _NUMERIC_EXECUTION_KEYS}
        training = kept.get("training")
        if isinstance(training, dict) and isinstance(training.get("optimizer"), dict):
            # folders written before the key existed trained with Keras' own Adam update
            optimizer = {"fused_kernel": False, **training["optimizer"]}
            kept["training"] = {**training, "optimizer": optimizer}
        return kept

    return strip(a) == strip(b)


RESULTS_FORMAT = 2  # 2: binary_crossentropy on the probabilities, gelu the exact form


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


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def environment() -> dict[str, Any]:
    """Versions and device, so a result can be traced to what produced it."""
    import keras
    import numpy
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "results_format": RESULTS_FORMAT,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "devices": gpus or ["CPU"],
    }


def tidy_histories(results: ResultsDir, trials: list[Trial]) -> pd.DataFrame:
    """All trials' epochs in one table: trial, activation, seed, epoch, metrics..."""
    return stack_trials(trials, results.history)


def tidy_diagnostics(results: ResultsDir, trials: list[Trial]) -> pd.DataFrame:
    """All trials' diagnostics rows: trial, activation, seed, epoch, layer, measurements."""
    return stack_trials(trials, results.diagnostics)


def stack_trials(trials: list[Trial], path_of) -> pd.DataFrame:
    """Per-trial CSVs (path_of(trial id)) in one table led by trial, activation and seed."""
    frames = []
    for trial in trials:
        path = path_of(trial.id)
        if not path.is_file():
            continue
        table = pd.read_csv(path)
        table.insert(0, "seed", trial.seed)
        table.insert(0, "activation", trial.activation)
        table.insert(0, "trial", trial.id)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def trial_summary(cfg: Config, results: ResultsDir, trials: list[Trial]) -> pd.DataFrame:
    """One row per finished trial: final and best validation metrics, test metrics, timing."""
    rows = []
    monitor = f"val_{cfg.plots.metric}"
    for trial in trials:
        record = results.finished(trial.id)
        hist = results.read_history(trial.id)
        if record is None or (hist.empty and record.status != "failed"):
            continue
        row: dict[str, Any] = {"trial": trial.id, "activation": trial.activation,
                               "seed": trial.seed, "status": record.status,
                               "epochs": record.epochs_run}
        if hist.empty:  # failed before its first epoch
            rows.append({**row, "error": record.error})
            continue
        last = hist.iloc[-1]
        for col in hist.columns:
            if col.startswith("val_"):
                row[f"final_{col}"] = last[col]
        if monitor in hist and hist[monitor].notna().any():
            best = hist[monitor].idxmax()
            row[f"best_{monitor}"] = hist.loc[best, monitor]
            row["best_epoch"] = int(hist.loc[best, "epoch"])
        for key, value in record.test.items():
            row[f"test_{key}"] = value
        row["diverged_epoch"] = record.diverged_epoch
        row["mean_epoch_seconds"] = float(hist["seconds"].mean())
        row["params"] = record.params
        if record.error:
            row["error"] = record.error
        rows.append(row)
    return pd.DataFrame(rows)


def format_number(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def markdown_table(df: pd.DataFrame, fmt: Callable[[Any], str] = format_number) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines)
