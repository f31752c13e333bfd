"""Where every result stands: one promotion board per rung (actsearch/search/promotion.py),
how many candidates finished rung 0 and how many failed, and the best candidate so far, kept
as results arrive so that a batch costs O(batch) whatever the number of candidates. Scores are
the rungs' (search.rung_metric, oriented by rung_direction); ties go by promotion.tie_key,
never by proposal order."""

from __future__ import annotations

from actsearch.config import Config
from actsearch.search.promotion import RungBoard, rank_key, standing, tie_key
from actsearch.search.rungs import oriented, rung_direction
from actsearch.search.state import CandidateRecord, RungResult


class Standings:
    """The rungs' boards and the counters the progress line reads."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.direction = rung_direction(cfg)
        self.boards = [RungBoard(cfg.search.keep) for _ in cfg.search.rungs]
        self.done, self.failed = 0, 0  # trainable candidates with a rung-0 result; failed ones
        self.best: tuple[tuple, int] | None = None  # (promotion.rank_key, candidate)

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
                    place = rank_key(other, self.cfg)
                    if place is not None and (self.best is None or place > self.best[0]):
                        self.best = (place, other.index)
            return
        tie = tie_key(result, self.cfg, records[index].fingerprint)
        self.boards[result.rung].add(index, oriented(result.objective, self.direction), tie)
        if result.objective is not None and not records[index].failed:
            place = (*standing([result], self.direction), *tie)
            if self.best is None or place > self.best[0]:
                self.best = (place, index)
