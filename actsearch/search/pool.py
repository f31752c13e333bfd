"""The search's candidates: every proposal in order (the leaderboard's index), who proposes
the next one (the `search.include` expressions first, then aging evolution or random
sampling), the screening and duplicate verdict each proposal gets, and what evolution is told.

Proposals are deterministic given search.seed and the results evolution was told, so a resumed
search proposes what the original would; the generator's state is part of `state()`, which the
loop commits with each batch."""

from __future__ import annotations

from typing import Any

import numpy as np

from actsearch.activations import file_safe
from actsearch.config import Config
from actsearch.errors import UserError
from actsearch.executors import Log
from actsearch.expressions import canonical, fingerprint, parse, screen
from actsearch.search.evolution import AgingEvolution
from actsearch.search.rungs import oriented, rung_direction
from actsearch.search.space import Candidate, SearchSpace, genome_of, sample
from actsearch.search.state import CandidateRecord

MAX_PROPOSALS_PER_CANDIDATE = 50  # refused/duplicate proposals tolerated before giving up
_SAMPLE_RETRIES = 200


class CandidatePool:
    """Every candidate proposed so far, indexed by fingerprint, trial id and batch, and the
    proposer (evolution or a random generator) with its state in `meta`."""

    def __init__(self, cfg: Config, space: SearchSpace, meta: dict[str, Any],
                 records: list[CandidateRecord]):
        self.cfg, self.space, self.meta = cfg, space, meta
        self.records: list[CandidateRecord] = []
        self.first_of: dict[str, int] = {}  # fingerprint -> first candidate with it
        self.trial_of: dict[str, int] = {}  # trial id -> candidate
        self.members: dict[int, list[int]] = {}  # batch -> its trainable candidates
        self.n_trainable = 0  # kept as candidates arrive, so a batch costs O(batch)
        for record in records:
            self.records.append(record)
            self.index(record)
        self.evolution: AgingEvolution | None = None
        self.rng: np.random.Generator | None = None
        s = cfg.search
        if s.algorithm == "evolution":
            self.evolution = (AgingEvolution.from_state(meta["evolution"])
                              if meta.get("evolution") else
                              AgingEvolution(space, s.population_size, s.sample_size,
                                             seed=s.seed))
            for record in self.records:  # proposals made, even in a batch not yet finished
                self.evolution.seen.add(record.fingerprint)
        else:
            self.rng = np.random.default_rng(s.seed)
            if meta.get("rng"):
                self.rng.bit_generator.state = meta["rng"]

    def state(self) -> dict[str, Any]:
        """The proposer's state for the database (evolution's seen set is rebuilt from the
        candidates table)."""
        state = {"included": self.meta["included"], "exhausted": self.meta["exhausted"]}
        if self.evolution is not None:
            state["evolution"] = self.evolution.to_state(with_seen=False)
        if self.rng is not None:
            state["rng"] = self.rng.bit_generator.state
        return state

    def index(self, record: CandidateRecord) -> None:
        """A record in the indexes (the records list already holds it)."""
        self.first_of.setdefault(record.fingerprint, record.index)
        if record.trainable:
            self.n_trainable += 1
            self.members.setdefault(record.batch, []).append(record.index)
        if record.trial is not None:
            other = self.trial_of.get(record.trial)
            if other is not None and self.records[other].text != record.text:
                raise UserError(f"trial id {record.trial} of {record.text!r} collides with "
                                f"that of #{other} {self.records[other].text!r}; use --out DIR "
                                "with another search.seed")
            self.trial_of[record.trial] = record.index

    def trainable(self) -> list[CandidateRecord]:
        return [r for r in self.records if r.trainable]

    def entered(self, k: int, members: list[CandidateRecord]) -> list[str]:
        """Every candidate that entered rung k so far, these members included."""
        indices = {r.index for r in self.records if r.result(k) is not None}
        indices |= {r.index for r in members}
        return [self.records[i].text for i in sorted(indices)]

    def propose(self) -> tuple[str, str, dict | None]:
        """(source, expression text, genome or None) of the next candidate."""
        include = self.cfg.search.include
        if self.meta["included"] < len(include):
            text = include[self.meta["included"]]
            self.meta["included"] += 1
            return "include", text, None
        if self.evolution is not None:
            candidate = self.evolution.propose()
            return "evolution", candidate.text, candidate.to_dict()
        for _ in range(_SAMPLE_RETRIES):
            candidate = sample(self.space, self.rng)
            if candidate.fingerprint not in self.first_of:
                return "random", candidate.text, candidate.to_dict()
        raise UserError("no unseen candidate in the search space")

    def add(self, source: str, text: str, genome: dict | None, batch: int,
            screen_range: tuple[float, float]) -> CandidateRecord:
        """A proposal as a record: a duplicate of an earlier function, refused by screening
        over `screen_range`, or trainable (then it gets its trial id)."""
        tree = parse(text)
        mark = fingerprint(tree)
        first = self.first_of.get(mark)
        text = canonical(tree)
        record = CandidateRecord(len(self.records), text, mark, None, source, genome, batch,
                                 first, False, "")
        if first is not None:
            record.screen = f"duplicate of #{first} ({self.records[first].text})"
        else:
            verdict = screen(tree, *screen_range)
            record.screen_ok, record.screen = verdict.ok, verdict.reason
            if verdict.ok:
                record.trial = file_safe(text)
        if self.evolution is not None:
            self.evolution.seen.add(mark)  # included expressions are never proposed again
        self.records.append(record)
        self.index(record)
        return record

    def new_batch(self, batch: int, screen_range: tuple[float, float]) -> list[CandidateRecord]:
        """Proposals until the batch holds search.batch trainable candidates (or the search
        its search.candidates); sets meta["exhausted"] when the space runs out."""
        s = self.cfg.search
        wanted = min(s.batch, s.candidates - self.n_trainable)
        added: list[CandidateRecord] = []
        limit = MAX_PROPOSALS_PER_CANDIDATE * s.candidates
        while sum(r.trainable for r in added) < wanted and len(self.records) < limit:
            try:
                added.append(self.add(*self.propose(), batch, screen_range))
            except UserError as exc:  # the space is exhausted
                self.meta["exhausted"] = str(exc)
                break
        if len(self.records) >= limit and sum(r.trainable for r in added) < wanted:
            self.meta["exhausted"] = f"{limit} proposals, mostly refused by screening"
        return added

    def tell(self, record: CandidateRecord, log: Log) -> None:
        """Evolution learns each candidate's rung-0 score (search.rung_metric; None: diverged);
        a failed candidate is not told. An included expression is told as its genome in the
        space."""
        first = record.result(0)
        if self.evolution is None or first is None or first.status == "failed":
            return
        if record.genome is not None:
            candidate = Candidate.from_dict(record.genome)
        else:
            candidate = genome_of(parse(record.text), self.space)
            if candidate is None:
                log(f"search: evolution is not told {record.text}: no genome of the "
                    "search space computes it")
                return
        self.evolution.report(candidate, oriented(first.objective, rung_direction(self.cfg)))
