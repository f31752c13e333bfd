"""Where every result stands: one promotion board per rung (actsearch/search/promotion.py),
how many candidates finished rung 0 and how many failed, and the best candidate so far, kept
as results arrive so that a batch costs O(batch) whatever the number of candidates."""

from __future__ import annotations

from actsearch.search.promotion import RungBoard, standing
from actsearch.search.rungs import oriented
from actsearch.search.state import CandidateRecord, RungResult


class Standings:
    """The rungs' boards and the counters the progress line reads."""

    def __init__(self, n_rungs: int, keep: float, direction: str):
        self.direction = direction
        self.boards = [RungBoard(keep) for _ in range(n_rungs)]
        self.done, self.failed = 0, 0  # trainable candidates with a rung-0 result; failed ones
        self.best: tuple[tuple[int, float], int] | None = None  # (standing, candidate)

    def place(self, records: list[CandidateRecord], index: int, result: RungResult) -> None:
        """A result on its rung's board; reaching rung k means promoted from k - 1."""
        if result.rung > 0:
            self.boards[result.rung - 1].promoted.add(index)
        else:
            self.done += 1
        if result.status == "failed":
            self.failed += 1
            if self.best is not None and self.best[1] == index:  # rare: rescan
                self.best = None
                for other in records:
                    place = None if other.failed else standing(other.rungs, self.direction)
                    if place is not None and (self.best is None or (place, -other.index)
                                              > (self.best[0], -self.best[1])):
                        self.best = (place, other.index)
            return
        self.boards[result.rung].add(index, oriented(result.objective, self.direction))
        if result.objective is not None and not records[index].failed:
            place = standing([result], self.direction)
            if self.best is None or (place, -index) > (self.best[0], -self.best[1]):
                self.best = (place, index)
