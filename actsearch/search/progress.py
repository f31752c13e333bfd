"""The search's progress line, one per finished batch: candidates done, what each rung holds,
the rate per hour (of this process's wall time), the best so far with its objective, and the
time left at that rate."""

from __future__ import annotations

import time
from typing import Any

from actsearch.config import Config
from actsearch.executors import Log


def duration(seconds: float) -> str:
    """3 h 05 min, 12 min, 40 s."""
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds)} s"


class Progress:
    """Counts candidates trained at rung 0 since this process started the search."""

    def __init__(self, cfg: Config, log: Log):
        self.cfg, self.log = cfg, log
        self.started = time.monotonic()
        self.done_at_start: int | None = None

    def batch_done(self, search: Any, batch: int) -> str:
        """`search` is the loop's Search: its counters, best candidate and boards are read
        (O(rungs), whatever the number of candidates)."""
        standings = search.standings
        done, total = standings.done, self.cfg.search.candidates
        if self.done_at_start is None:  # the first batch of this process counts from its start
            self.done_at_start = done - len(search.pool.members.get(batch, []))
        elapsed = time.monotonic() - self.started
        new = done - self.done_at_start
        rate = new / elapsed * 3600.0 if elapsed > 0 and new > 0 else None
        per_rung = ", ".join(f"rung {k}: {board.seen}" for k, board in enumerate(standings.boards))
        metric = f"val_{self.cfg.objective.metric}"
        if standings.best is not None:
            place, index = standings.best
            rung = place[0]
            best = search.records[index]
            result = best.rungs[rung]
            shown = [f"{name} {value:.4f}" for name, value in
                     (("val_loss", result.loss), (metric, result.metric)) if value is not None]
            best_text = f"{best.text} ({', '.join(shown) or 'no score'} at rung {rung})"
        else:
            best_text = "none yet"
        left = ("done" if done >= total else "time left unknown" if rate is None else
                f"about {duration((total - done) / rate * 3600.0)} left")
        line = (f"search: batch {batch}: {done}/{total} candidates ({per_rung}"
                f"{f', {standings.failed} failed' if standings.failed else ''}), "
                f"{'-' if rate is None else f'{rate:,.0f}'} candidates/h; best so far "
                f"{best_text}; {left}")
        self.log(line)
        return line
