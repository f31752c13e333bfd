"""Trials: what one training run is (an activation and a seed), how it ended, and the plan of
all trials of a config."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from actsearch.activations import display_name, file_safe
from actsearch.config import Config


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
    """One training run: an activation and a seed."""

    activation: str
    seed: int
    index: int = 0  # position in the sweep, for progress lines
    total: int = 1

    @property
    def id(self) -> str:
        return f"{file_safe(self.activation)}-seed{self.seed}"

    @property
    def head(self) -> str:
        """How progress lines name it: `[3/6] leaky-relu seed 0`."""
        return f"[{self.index}/{self.total}] {self.activation} seed {self.seed}"


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


def plan_trials(cfg: Config) -> list[Trial]:
    """Every (activation, seed) pair, activation-major so one activation's seeds run together;
    activations under the names tables and plots use (see activations.display_name)."""
    names = [display_name(a) for a in cfg.model.activations]
    pairs = [(a, s) for a in names for s in cfg.training.seeds]
    return [Trial(a, s, index=i, total=len(pairs)) for i, (a, s) in enumerate(pairs, start=1)]
