"""Trials: what one training run is (an activation, a sweep point and a seed), how it ended,
the config it runs with, and the plan of all trials of a config.

Trial ids name the point by the shortest dotted suffix of each swept key that tells the
sweep's keys apart, glued to the value: `relu-depth8-seed0`, `relu-learning_rate0.001-seed0`,
`relu-model.depth8-...` only if another swept key also ends in `depth`. Values are written as
Python writes them (floats in full: `0.001`, `1e-05`) and made file-safe. A run without a
sweep keeps today's ids (`relu-seed0`), so folders written before sweeps resume."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from actsearch.activations import display_name, file_safe
from actsearch.config import Config, Point, apply_point, sweep_points
from actsearch.errors import UserError


class Status(str, Enum):
    """How a trial ended; stored as its value in trials/<trial>.json."""

    OK = "ok"
    DIVERGED = "diverged"  # a non-finite loss: stopped at that epoch
    FAILED = "failed"  # never finished (the error says why); a rerun tries it again
    PRUNED = "pruned"  # stopped early because it could not matter (pruning): final

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Trial:
    """One training run: an activation, a sweep point (empty without a sweep) and a seed."""

    activation: str
    seed: int
    index: int = 0  # position in the plan, for progress lines
    total: int = 1
    point: Point = ()  # ((dotted key, value), ...): the sweep point's values

    @property
    def id(self) -> str:
        return f"{file_safe(self.activation)}{point_id(self.point)}-seed{self.seed}"

    @property
    def head(self) -> str:
        """How progress lines name it: `[3/6] leaky-relu seed 0`, `[3/24] relu depth=8 seed 0`."""
        where = f" {point_label(self.point)}" if self.point else ""
        return f"[{self.index}/{self.total}] {self.activation}{where} seed {self.seed}"


@dataclass
class TrialResult:
    """What a finished trial leaves behind besides its history."""

    trial_id: str
    activation: str
    seed: int
    status: str  # a Status value
    epochs_run: int
    params: int
    test: dict[str, float] = field(default_factory=dict)
    diverged_epoch: int | None = None
    seconds: float = 0.0
    error: str | None = None  # why a failed trial failed
    attempts: int = 1  # more than 1 when a lost worker made the trial start again
    pruned_epoch: int | None = None  # the last epoch a pruned trial trained
    pruned_reason: str | None = None  # e.g. "median rule: 0.41 < median 0.78"
    config: dict[str, Any] | None = None  # the exact config it ran with (trial_config)


def short_keys(keys: list[str]) -> dict[str, str]:
    """Each dotted key's shortest suffix (whole dotted parts) that no other key ends with:
    model.depth -> depth, unless another key also ends in depth."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            if not any(other != key and (other == suffix or other.endswith("." + suffix))
                       for other in keys):
                break
        out[key] = suffix
    return out


def point_id(point: Point) -> str:
    """The point's part of a trial id: `-depth8`; empty without a sweep."""
    short = short_keys([key for key, _ in point])
    return "".join(f"-{short[key]}{file_safe(_value_text(value))}" for key, value in point)


def point_label(point: Point) -> str:
    """How tables, titles and progress lines name a point: `depth=8, learning_rate=0.001`."""
    short = short_keys([key for key, _ in point])
    return ", ".join(f"{short[key]}={_value_text(value)}" for key, value in point)


def _value_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return repr(value) if isinstance(value, float) else str(value)


def trial_config(cfg: Config, trial: Trial) -> Config:
    """The config a trial runs with: the run's config with the trial's sweep point applied.
    Training, diagnostics, every executor and the trial's record use this one."""
    return apply_point(cfg, trial.point)


def plan_trials(cfg: Config) -> list[Trial]:
    """Every (activation, point, seed): point-major (a point's comparison completes before
    the next starts), then activation-major so one activation's seeds run together;
    activations under the names tables and plots use (see activations.display_name)."""
    names = [display_name(a) for a in cfg.model.activations]
    triples = [(a, p, s) for p in sweep_points(cfg) for a in names for s in cfg.training.seeds]
    trials = [Trial(a, s, index=i, total=len(triples), point=p)
              for i, (a, p, s) in enumerate(triples, start=1)]
    twice = sorted(i for i, n in Counter(t.id for t in trials).items() if n > 1)
    if twice:
        raise UserError(f"sweep: two trials would share the id {twice[0]} (values that differ "
                        f"only in characters a file name cannot hold); rename the values")
    return trials
