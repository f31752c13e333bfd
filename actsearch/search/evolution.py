"""Regularized (aging) evolution, Real et al. (2019): tournament selection of S from a
population of P, mutate the winner, drop the oldest.

A search proposes a whole batch, trains it, then tells every result. Ageing at each report
(as Real et al.'s one-at-a-time loop does) would, with a batch larger than P, drop a batch's
first results before any tournament saw them (with the defaults, 32 and 16, half of each
batch). So results are told first and the population aged at the next proposal, keeping
every result told since the last proposal: each result is in the population for every
tournament of the batch proposed after it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

import numpy as np

from actsearch.errors import UserError
from actsearch.search.space import Candidate, SearchSpace, mutate, sample

_STATE_VERSION = 1


class AgingEvolution:
    """Regularized evolution (Real et al. 2019) with fingerprint dedup.

    `propose()` samples at random until `population_size` candidates have been reported, then
    takes the best of `sample_size` random entries (higher score is better; None, e.g. a
    refused or diverged candidate, is worst) and mutates it. A proposal's fingerprint is marked
    seen, and proposals retry up to `max_retries` times to find an unseen one. `report()`
    appends; the first `propose()` after new reports ages the population: it drops the oldest
    entries beyond `population_size`, but never one reported since the previous proposal (the
    population then holds all of them, more than `population_size` when a batch is larger).
    The random generator is owned and part of `to_state()`, so a restored search proposes
    exactly what the original would.
    """

    def __init__(self, space: SearchSpace, population_size: int = 20, sample_size: int = 5,
                 seed: int = 0, max_retries: int = 100):
        if not 2 <= population_size:
            raise UserError(f"search: population size must be at least 2, got {population_size}")
        if not 1 <= sample_size <= population_size:
            raise UserError(f"search: sample size must be 1..{population_size} (the population "
                            f"size), got {sample_size}")
        if max_retries < 1:
            raise UserError(f"search: max_retries must be at least 1, got {max_retries}")
        self.space = space
        self.population_size = population_size
        self.sample_size = sample_size
        self.max_retries = max_retries
        self.rng = np.random.default_rng(seed)
        self.population: list[tuple[Candidate, float | None]] = []  # oldest first
        self.seen: set[str] = set()
        self.fresh = 0  # entries reported since the last proposal: not yet in a tournament

    def age(self) -> None:
        """Drop the oldest entries beyond population_size, none of the fresh ones."""
        keep = max(self.population_size, self.fresh)
        del self.population[:max(0, len(self.population) - keep)]
        self.fresh = 0

    def propose(self) -> Candidate:
        if self.fresh:
            self.age()
        for _ in range(self.max_retries):
            if len(self.population) < self.population_size:
                candidate = sample(self.space, self.rng)
            else:
                candidate = mutate(self._tournament_winner(), self.space, self.rng)
            mark = candidate.fingerprint
            if mark not in self.seen:
                self.seen.add(mark)
                return candidate
        raise UserError(f"search: no unseen candidate in {self.max_retries} tries; the search "
                        "space is (nearly) exhausted")

    def _tournament_winner(self) -> Candidate:
        picks = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
        best = max(picks, key=lambda i: _rank(self.population[i][1]))
        return self.population[best][0]

    def report(self, candidate: Candidate, score: float | None) -> None:
        """Add a trained candidate (aged at the next proposal); a non-finite score counts as
        None (failed)."""
        if score is not None:
            score = float(score)
            score = score if np.isfinite(score) else None
        self.seen.add(candidate.fingerprint)
        self.population.append((candidate, score))
        self.fresh += 1

    def is_seen(self, candidate: Candidate) -> bool:
        return candidate.fingerprint in self.seen

    def to_state(self, with_seen: bool = True) -> dict:
        """Plain JSON-able state: settings, population (oldest first), seen (unless a caller
        that keeps the proposals elsewhere, as the search's database does, leaves it out: it
        grows with every proposal), generator."""
        return {
            "version": _STATE_VERSION,
            "space": asdict(self.space),
            "population_size": self.population_size,
            "sample_size": self.sample_size,
            "max_retries": self.max_retries,
            "population": [{"candidate": c.to_dict(), "text": c.text, "score": s}
                           for c, s in self.population],
            "seen": sorted(self.seen) if with_seen else [],
            "fresh": self.fresh,
            "rng": self.rng.bit_generator.state,
        }

    @classmethod
    def from_state(cls, state: Mapping) -> AgingEvolution:
        if not isinstance(state, Mapping) or state.get("version") != _STATE_VERSION:
            raise UserError("search state: not an actsearch search state (wrong version)")
        try:
            space = SearchSpace(**{k: (tuple(v) if isinstance(v, list) else v)
                                   for k, v in state["space"].items()})
            search = cls(space, state["population_size"], state["sample_size"],
                         max_retries=state["max_retries"])
            search.population = [(Candidate.from_dict(entry["candidate"]), entry["score"])
                                  for entry in state["population"]]
            search.seen = set(state["seen"])
            search.fresh = int(state.get("fresh", 0))
            search.rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"search state: malformed ({type(exc).__name__}: {exc})") from None
        return search


def _rank(score: float | None) -> float:
    return -np.inf if score is None else score
