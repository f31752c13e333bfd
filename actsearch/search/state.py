"""A search's state in SQLite, `<out>/search/search.db`: O(1) work per finished candidate.

Tables: `meta` (the config that defines the search, the screening range, the evolution or
sampling generator, how many includes were proposed, why the search stopped), `candidates`
(text, fingerprint, trial id, source, genome, batch, screening verdict), `rung_results` (per
candidate and rung: status, epochs, objective, error), `histories` (per candidate, rung and
epoch, one row per metric) and `batches` (done or not). As Optuna's RDB storage does, each
step is one transaction: a batch's proposals with the generator that made them, each finished
candidate's result with its history, a batch's end with evolution's state. `fidelity_runs`
holds the fidelity measurement's extra trainings (actsearch/search/fidelity.py): a retest
with another seed, a probe of a candidate not promoted to a rung, a confirm probe; each is
one transaction too, and none of them is a candidate's result. SQLite's
write-ahead log keeps every committed transaction through a killed process, so a SIGKILL loses
at most what was not yet committed: the candidates of the batch in progress still training.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from actsearch.errors import UserError

SCHEMA_VERSION = 3  # 1 was the state.json of earlier versions; 3: separating fingerprints,
#                      rung scores on the loss with both loss and metric kept, fidelity_runs
#                      scored as the rungs (search.rung_metric, the rung's seeds)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    idx INTEGER PRIMARY KEY, text TEXT NOT NULL, fingerprint TEXT NOT NULL, trial TEXT UNIQUE,
    source TEXT NOT NULL, genome TEXT, batch INTEGER NOT NULL, duplicate_of INTEGER,
    screen_ok INTEGER NOT NULL, screen TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rung_results (
    candidate INTEGER NOT NULL, rung INTEGER NOT NULL, status TEXT NOT NULL,
    epochs INTEGER NOT NULL, objective REAL, error TEXT, seq INTEGER NOT NULL,
    loss REAL, metric REAL, PRIMARY KEY (candidate, rung));
CREATE TABLE IF NOT EXISTS histories (
    candidate INTEGER NOT NULL, rung INTEGER NOT NULL, epoch INTEGER NOT NULL,
    metric TEXT NOT NULL, value REAL, PRIMARY KEY (candidate, rung, epoch, metric));
CREATE TABLE IF NOT EXISTS batches (idx INTEGER PRIMARY KEY, done INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fidelity_runs (
    kind TEXT NOT NULL, rung INTEGER NOT NULL, candidate INTEGER NOT NULL,
    status TEXT NOT NULL, objective REAL, accuracy REAL, error TEXT,
    PRIMARY KEY (kind, rung, candidate));
"""


@dataclass
class RungResult:
    """How one candidate did at one rung; `objective` (the rung's score: search.rung_metric at
    search.score's epoch, the mean over the rung's seeds) is None unless status is ok."""

    rung: int
    status: str  # ok, diverged or failed
    epochs: int
    objective: float | None
    error: str | None = None
    loss: float | None = None  # validation loss at the scored epoch (mean over seeds)
    metric: float | None = None  # validation objective.metric there (mean over seeds)


@dataclass
class CandidateRecord:
    """One proposed candidate: screening verdict and the rungs it trained at."""

    index: int
    text: str
    fingerprint: str
    trial: str | None  # the trial id stem of its rung trials (None: never trained)
    source: str  # include, evolution or random
    genome: dict | None
    batch: int
    duplicate_of: int | None
    screen_ok: bool
    screen: str
    rungs: list[RungResult] = field(default_factory=list)

    @property
    def trainable(self) -> bool:
        return self.screen_ok and self.duplicate_of is None

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.rungs)

    def result(self, k: int) -> RungResult | None:
        return self.rungs[k] if k < len(self.rungs) else None


@dataclass
class FidelityRun:
    """One extra training of the fidelity measurement; `objective` as a rung's (None unless
    status is ok), `accuracy` the last epoch's validation accuracy (chance is told by it)."""

    kind: str  # retest (rung k, another seed), probe (rung k, not promoted), confirm
    rung: int  # the rung trained (confirm: the last rung the candidate came from)
    candidate: int
    status: str
    objective: float | None
    accuracy: float | None
    error: str | None = None


class SearchDB:
    """The open search.db of one search (one writer: the search holds the results lock)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self.conn = sqlite3.connect(path, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a killed process
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path} is not a search database ({exc}); use --out DIR for a new "
                            "search") from None
        self._seq = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM rung_results"
                                      ).fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    # one transaction each ----------------------------------------------------------------

    def _transaction(self):
        return _Transaction(self.conn)

    def set_meta(self, values: dict[str, Any]) -> None:
        with self._transaction():
            self._write_meta(values)

    def _write_meta(self, values: dict[str, Any]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                              [(k, json.dumps(v)) for k, v in values.items()])

    def add_batch(self, batch: int, records: Iterable[CandidateRecord],
                  meta: dict[str, Any]) -> None:
        """A new batch's candidates with the generator state that proposed them."""
        with self._transaction():
            self.conn.executemany(
                "INSERT INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.index, r.text, r.fingerprint, r.trial, r.source,
                  None if r.genome is None else json.dumps(r.genome), r.batch, r.duplicate_of,
                  int(r.screen_ok), r.screen) for r in records])
            self.conn.execute("INSERT INTO batches VALUES (?, 0)", (batch,))
            self._write_meta(meta)

    def add_result(self, candidate: int, result: RungResult, history: pd.DataFrame,
                   meta: dict[str, Any] | None = None) -> None:
        """One finished candidate at one rung, with its per-epoch history (and `meta`, e.g.
        evolution's state once it has been told this result)."""
        self._seq += 1
        rows = []
        if not history.empty and "epoch" in history:
            for _, row in history.iterrows():
                epoch = int(row["epoch"])
                for metric, value in row.items():
                    if metric == "epoch" or not _is_number(value):
                        continue
                    value = float(value)
                    rows.append((candidate, result.rung, epoch, str(metric),
                                 value if np.isfinite(value) else None))
        with self._transaction():
            self.conn.execute("INSERT INTO rung_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              (candidate, result.rung, result.status, result.epochs,
                               result.objective, result.error, self._seq, result.loss,
                               result.metric))
            self.conn.executemany("INSERT OR REPLACE INTO histories VALUES (?, ?, ?, ?, ?)",
                                  rows)
            if meta:
                self._write_meta(meta)

    def add_fidelity_run(self, run: FidelityRun, meta: dict[str, Any] | None = None) -> None:
        """One finished training of the fidelity measurement (and `meta`, e.g. its cost)."""
        with self._transaction():
            self.conn.execute("INSERT INTO fidelity_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (run.kind, run.rung, run.candidate, run.status, run.objective,
                               run.accuracy, run.error))
            if meta:
                self._write_meta(meta)

    def fidelity_runs(self) -> dict[tuple[str, int, int], FidelityRun]:
        """Every finished fidelity training by (kind, rung, candidate)."""
        return {(kind, rung, candidate): FidelityRun(kind, rung, candidate, status, objective,
                                                     accuracy, error)
                for kind, rung, candidate, status, objective, accuracy, error
                in self.conn.execute("SELECT * FROM fidelity_runs")}

    def finish_batch(self, batch: int, meta: dict[str, Any]) -> None:
        with self._transaction():
            self.conn.execute("UPDATE batches SET done = 1 WHERE idx = ?", (batch,))
            self._write_meta(meta)

    # reading (once, on start) ------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def batches(self) -> dict[int, bool]:
        return {i: bool(d) for i, d in self.conn.execute("SELECT idx, done FROM batches")}

    def candidates(self) -> list[CandidateRecord]:
        records = [CandidateRecord(i, text, mark, trial, source,
                                   None if genome is None else json.loads(genome), batch,
                                   dup, bool(ok), screen)
                   for i, text, mark, trial, source, genome, batch, dup, ok, screen
                   in self.conn.execute("SELECT * FROM candidates ORDER BY idx")]
        for i, rung, status, epochs, objective, error, _, loss, metric in self.conn.execute(
                "SELECT * FROM rung_results ORDER BY candidate, rung"):
            records[i].rungs.append(RungResult(rung, status, epochs, objective, error, loss,
                                               metric))
        return records

    def history(self, candidate: int, rung: int) -> pd.DataFrame:
        """A candidate's history at a rung: one row per epoch, as a results folder's CSV."""
        long = pd.read_sql_query(
            "SELECT epoch, metric, value FROM histories WHERE candidate = ? AND rung = ?",
            self.conn, params=(candidate, rung))
        if long.empty:
            return pd.DataFrame()
        wide = long.pivot(index="epoch", columns="metric", values="value").reset_index()
        wide.columns.name = None
        return wide


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind, value, traceback):
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
        return False
