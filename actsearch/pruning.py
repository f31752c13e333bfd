"""Pruning (opt-in, the `pruning:` section): stop a trial that cannot matter at the end of an
epoch, so a sweep gives its answer before its budget is spent.

Both rules judge the objective on the validation data (`val_<objective.metric>`):
- median, Ray Tune's MedianStoppingRule: at epoch t, a trial whose best value so far is worse
  than the median of its peers' running means over epochs 1..t is stopped. Peers are the
  finished (ok) trials of the same results folder (so the same config and seeds) and the same
  sweep point; at least `min_peers` of them must have reached epoch t.
- chance: a trial whose best value so far is within `chance_margin` of the way from chance to
  1 is stopped. Chance is what the best constant prediction scores on the validation labels
  (categorical accuracy: the most frequent class, 1/K when balanced; binary accuracy: each
  output's more frequent value, (K-1)/K when balanced), so a network that learnt nothing but
  the class frequencies is at chance by construction. Losses have no chance level
  (config.validate refuses the rule for them).
Rules are tried in the order `rules` lists them; the first that fires names the reason.
Nothing is pruned before `grace_epochs`, nor at the last epoch (that would save nothing and
only drop the trial from the statistics). The executor marks the trial `pruned` and keeps it:
a pruned trial is final, a rerun does not train it again (delete trials/<trial>.json, or use
--overwrite, to train it in full).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from actsearch.config import Config, PruningConfig


@dataclass(frozen=True)
class Pruned:
    """Why a trial was stopped: the last epoch it trained and the rule's numbers."""

    epoch: int
    reason: str  # e.g. "median rule: 0.41 < median 0.78"


def chance_level(metric: str, y: np.ndarray) -> float:
    """What the best constant prediction scores on one-hot labels `y` under `metric`."""
    frequencies = np.asarray(y, dtype=float).mean(axis=0)
    if metric == "categorical_accuracy":
        return float(frequencies.max())
    if metric == "binary_accuracy":
        return float(np.maximum(frequencies, 1.0 - frequencies).mean())
    raise ValueError(f"no chance level for {metric}")


def prune_verdict(settings: PruningConfig, values: Sequence[float], mode: str, last_epoch: int,
                  chance: float | None, peers: Sequence[Sequence[float]]) -> Pruned | None:
    """Should a trial whose objective went `values` (epochs 1..t) stop after epoch t?
    `peers`: the objective per epoch of each finished peer; `mode`: max or min."""
    epoch = len(values)
    seen = np.asarray(values, dtype=float)
    if epoch < settings.grace_epochs or epoch >= last_epoch or not np.isfinite(seen).any():
        return None
    best = float(np.nanmax(seen) if mode == "max" else np.nanmin(seen))
    for rule in settings.rules:  # in the order listed: the first that fires names the reason
        if rule == "chance" and chance is not None:
            bar = chance + settings.chance_margin * (1.0 - chance)
            if best <= bar:
                return Pruned(epoch, f"chance rule: best {best:.4g} <= {bar:.4g}, chance "
                                     f"{chance:.4g} + margin {settings.chance_margin:g}")
        if rule == "median":
            running = [float(np.nanmean(np.asarray(p[:epoch], dtype=float)))
                       for p in peers if len(p) >= epoch]
            if len(running) < settings.min_peers:
                continue
            median = float(np.median(running))
            if (best < median) if mode == "max" else (best > median):
                sign = "<" if mode == "max" else ">"
                return Pruned(epoch, f"median rule: {best:.4g} {sign} median {median:.4g} of "
                                     f"{len(running)} peers")
    return None


class PruningCallback(keras.callbacks.Callback):
    """Stops training after an epoch the rules prune (`model.stop_training`); the history and
    backup callbacks before it have written that epoch, so the record stays intact.
    `pruned` tells the executor why. `previous`: {epoch: value} of a resumed trial's earlier
    epochs, so its best so far counts them."""

    def __init__(self, settings: PruningConfig, monitor: str, mode: str, last_epoch: int,
                 chance: float | None, peers: Sequence[Sequence[float]],
                 previous: dict[int, float] | None = None):
        super().__init__()
        self.settings, self.monitor, self.mode = settings, monitor, mode
        self.last_epoch, self.chance, self.peers = last_epoch, chance, peers
        self.values: dict[int, float] = dict(previous or {})
        self.pruned: Pruned | None = None

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        self.values[done] = float((logs or {}).get(self.monitor, float("nan")))
        curve = [self.values.get(e, float("nan")) for e in range(1, done + 1)]
        verdict = prune_verdict(self.settings, curve, self.mode, self.last_epoch, self.chance,
                                self.peers)
        if verdict is not None:
            self.pruned = verdict
            self.model.stop_training = True


def pruning_callback(cfg: Config, monitor: str, y_val: np.ndarray,
                     peer_histories: Sequence[pd.DataFrame], own_history: pd.DataFrame
                     ) -> PruningCallback:
    """The callback for one trial, from its peers' histories (finished trials of the same
    sweep point) and its own (non-empty when it resumes)."""
    p = cfg.pruning
    chance = chance_level(cfg.objective.metric, y_val) if "chance" in p.rules else None
    peers = [h[monitor].to_numpy() for h in peer_histories if monitor in h]
    previous = (dict(zip(own_history["epoch"].astype(int).tolist(),
                         own_history[monitor].astype(float).tolist(), strict=True))
                if monitor in own_history else {})
    return PruningCallback(p, monitor, cfg.objective.direction, cfg.training.epochs, chance,
                           peers, previous)
