"""What a search costs besides training, per candidate, as it grows: proposals (aging
evolution), screening, fingerprints, the SQLite state (one transaction per finished candidate
and per batch), promotion across the whole rung, the leaderboard rewritten after every batch
and the progress line. Training is replaced by a trainer that returns at once a one-epoch
history of made-up numbers (drawn from the candidate's fingerprint), so only the search's own
work is timed; the report's plots (at most every 30 s, and at the end) are left out.

    python benchmarks/search_bookkeeping.py --candidates 10000 --every 1000

Prints, per block of candidates, the process CPU seconds per candidate and the peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import tiny_config  # noqa: E402  (the shipped MNIST sample, for screening)

from actsearch.search.loop import Search, search_config  # noqa: E402
from actsearch.search.preflight import search_space_of  # noqa: E402
from actsearch.search.trainers import RungRun  # noqa: E402

# The default unit, then a second from a smaller set: 94,826 distinct functions, so 10,000
# candidates do not exhaust it (the default one-unit space, 6,028, ran out at 4,235).
SPACE = {"units": 2, "second_unary": ["x", "tanh", "sigmoid", "relu"],
         "second_binary": ["add", "mul"]}


class InstantTrainer:
    """Made-up one-epoch histories, at once: the search's bookkeeping alone is timed."""

    name = "instant"

    def __init__(self, search: Search):
        self.search = search

    def train(self, k, members, on_result) -> None:
        for record in members:
            draw = int(hashlib.sha256(f"{record.fingerprint}{k}".encode()).hexdigest()[:8], 16)
            accuracy = 0.5 + 0.4 * draw / 0xFFFFFFFF
            history = pd.DataFrame([{"epoch": 1, "loss": 1.0 - accuracy,
                                     "categorical_accuracy": accuracy,
                                     "val_loss": 1.0 - accuracy,
                                     "val_categorical_accuracy": accuracy}])
            on_result(record.index, RungRun(history, "ok"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10000)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = tiny_config(Path(tmp) / "out", data={"validation": "split"},
                          model={"architecture": "mlp", "depth": 2, "width": 32},
                          search={"candidates": args.candidates, "batch": args.batch,
                                  "population_size": 64, "sample_size": 8,
                                  "rungs": [{"epochs": 1}, {"epochs": 2}], "keep": 0.33,
                                  "screen_range": [-6.0, 6.0],
                                  # no confirm run and no fidelity measurement: they train
                                  "confirm": {"top": 0, "probes": 0, "probe_top": 0},
                                  "fidelity": {"retest_random": 0, "retest_top": 0,
                                               "probes": 0},
                                  "space": SPACE})
        cfg = search_config(raw)
        lines: list[str] = []
        search = Search(cfg, search_space_of(cfg), lines.append)
        search.trainer = InstantTrainer(search)
        blocks, mark = [], 0
        original = search.progress.batch_done
        started = [time.process_time(), time.perf_counter()]

        def timed(s, batch):
            nonlocal mark
            line = original(s, batch)
            done = sum(1 for r in s.records if r.trainable and r.result(0) is not None)
            if done >= mark + args.every or done >= args.candidates:
                cpu, wall = time.process_time(), time.perf_counter()
                n = done - mark
                blocks.append((mark, done, (cpu - started[0]) / n * 1000,
                               (wall - started[1]) / n * 1000,
                               resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
                mark, started[:] = done, [cpu, wall]
                print(f"{mark:>6} candidates: {blocks[-1][2]:.2f} CPU-ms and "
                      f"{blocks[-1][3]:.2f} wall-ms per candidate over the last {n}; "
                      f"peak RSS {blocks[-1][4]:.0f} MiB", flush=True)
            return line
        search.progress.batch_done = timed
        search.run()
        search.db.close()
        print(lines[-1])
        print(f"proposed {len(search.records)}, trained {len(search.pool.trainable())}, rung 1: "
              f"{search.standings.boards[1].seen}")


if __name__ == "__main__":
    main()
