"""Promotion across the whole rung: asynchronous successive halving (ASHA, Li et al. 2020).

A candidate goes on from rung k when it is among the top floor(n * keep) of the n candidates
rung k has seen so far (over every batch, not within its own), and has not gone on already.
A diverged candidate counts among the n (it was seen, and it is worst); a failed one does not
(it has no result). Each rung keeps its objectives sorted, so adding a result costs O(log n).
"""

from __future__ import annotations

import bisect
import math


class RungBoard:
    """What rung k has seen: the oriented objectives (higher is better) in order, and who
    has been promoted from it."""

    def __init__(self, keep: float):
        self.keep = keep
        self.ranked: list[tuple[float, int]] = []  # (-oriented objective, candidate), best first
        self.seen = 0
        self.promoted: set[int] = set()

    def add(self, candidate: int, oriented: float | None) -> None:
        """A finished result at this rung (None: diverged, seen but never promoted)."""
        self.seen += 1
        if oriented is not None:
            bisect.insort(self.ranked, (-oriented, candidate))

    def quota(self) -> int:
        return math.floor(self.seen * self.keep + 1e-9)

    def promotable(self) -> list[int]:
        """Candidates now in the top `keep` fraction that have not gone on, best first."""
        top = self.ranked[:self.quota()]
        return [candidate for _, candidate in top if candidate not in self.promoted]


def standing(rungs: list, direction: str) -> tuple[int, float] | None:
    """How the leaderboard ranks a candidate (higher is better): the highest rung where it has
    an objective, then that objective oriented so higher is better; None: no objective."""
    for result in reversed(rungs):
        if result.objective is not None:
            value = result.objective if direction == "max" else -result.objective
            return result.rung, value
    return None
