"""Promotion across the whole rung: asynchronous successive halving (ASHA, Li et al. 2020).

A candidate goes on from rung k when it is among the top floor(n * keep) of the n candidates
rung k has seen so far (over every batch, not within its own), and has not gone on already.
A diverged candidate counts among the n (it was seen, and it is worst); a failed one does not
(it has no result). Each rung keeps its objectives sorted, so adding a result costs O(log n).

Ties. Neither promotion nor the leaderboard ever breaks a tie by proposal order: equal scores
are ordered by the other validation score (the metric when rungs score the loss, the loss when
they score the metric), then by the candidate's fingerprint (a hash of its function), the
same wherever and whenever it was proposed (`tie_key`).
"""

from __future__ import annotations

import bisect
import hashlib
import math
from typing import Any

from actsearch.config import Config
from actsearch.search.rungs import oriented, rung_direction


class RungBoard:
    """What rung k has seen: the oriented objectives (higher is better) in order, and who
    has been promoted from it."""

    def __init__(self, keep: float):
        self.keep = keep
        # (-oriented objective, -tie key, candidate), best first
        self.ranked: list[tuple[float, tuple[float, int], int]] = []
        self.seen = 0
        self.promoted: set[int] = set()

    def add(self, candidate: int, oriented: float | None,
            tie: tuple[float, int] = (0.0, 0)) -> None:
        """A finished result at this rung (None: diverged, seen but never promoted); `tie`
        (tie_key, higher is better) orders equal scores."""
        self.seen += 1
        if oriented is not None:
            bisect.insort(self.ranked, (-oriented, (-tie[0], -tie[1]), candidate))

    def quota(self) -> int:
        return math.floor(self.seen * self.keep + 1e-9)

    def promotable(self) -> list[int]:
        """Candidates now in the top `keep` fraction that have not gone on, best first."""
        top = self.ranked[:self.quota()]
        return [candidate for _, _, candidate in top if candidate not in self.promoted]


def standing(rungs: list, direction: str) -> tuple[int, float] | None:
    """How the leaderboard ranks a candidate (higher is better): the highest rung where it has
    an objective, then that objective oriented so higher is better; None: no objective."""
    for result in reversed(rungs):
        if result.objective is not None:
            value = result.objective if direction == "max" else -result.objective
            return result.rung, value
    return None


def tie_key(result: Any, cfg: Config, mark: str) -> tuple[float, int]:
    """Higher is better: the other validation score of a rung result (oriented; missing is
    worst), then a hash of the fingerprint `mark` (a number; lower first)."""
    if cfg.search.rung_metric == "loss":
        other = oriented(result.metric, cfg.objective.direction)
    else:
        other = oriented(result.loss, "min")
    digest = int(hashlib.sha256(mark.encode()).hexdigest()[:15], 16)
    return (-math.inf if other is None or math.isnan(other) else other, -digest)


def rank_key(record: Any, cfg: Config) -> tuple[int, float, float, int] | None:
    """How the leaderboard ranks a candidate, higher is better: its standing (rung scores
    oriented by rung_direction), then tie_key there; None: failed or no score."""
    if record.failed:
        return None
    place = standing(record.rungs, rung_direction(cfg))
    if place is None:
        return None
    return (*place, *tie_key(record.rungs[place[0]], cfg, record.fingerprint))
