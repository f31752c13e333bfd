"""A search on Ray (`execution.executor: ray`): several batches in flight at once.

Up to `search.batches_in_flight` batches train at the same time, each candidate of each rung a
Ray task (the Ray executor's driver: workers send each epoch back, a lost worker's trial is
started again up to `execution.max_retries` times). Results are taken as they arrive: a
rung-0 result is told to aging evolution at once (Real et al. 2019 ran it asynchronously), is
promoted by its standing among everything its rung has seen (asynchronous successive halving),
and a batch is finished, and the next one proposed, as soon as all its candidates have their
rung-0 result. Each result is one transaction with evolution's state, so a killed search
resumes from the database; which candidates a search proposes then depends on the order
results arrived in, so a Ray search is not repeatable to the candidate as a local one is.
"""

from __future__ import annotations

from typing import Any

from actsearch.activations import display_name
from actsearch.executors.ray.driver import Sweep, check_fits, ray_session
from actsearch.search.rungs import prepare_rung, rung_config, rung_seed
from actsearch.search.trainers import RungRun, history_of
from actsearch.storage import ResultsDir
from actsearch.trials import Trial, trial_config


def run_in_flight(search: Any) -> None:
    """The loop of actsearch.search.loop.Search for Ray (see the module docstring)."""
    cfg = search.cfg
    with ray_session(cfg.execution, search.log, quiet=True) as ray:
        check_fits(ray, cfg.execution, search.log)
        _InFlight(ray, search).run()


class _InFlight:
    def __init__(self, ray: Any, search: Any):
        self.ray, self.search = ray, search
        self.sweeps: dict[int, tuple[Sweep, ResultsDir]] = {}
        self.running: dict[str, tuple[int, int]] = {}  # trial id at rung k -> (k, candidate)

    def _sweep(self, k: int) -> tuple[Sweep, ResultsDir]:
        if k not in self.sweeps:
            search = self.search
            cfg = rung_config(search.cfg, k, search.pool.entered(k, []))
            results = ResultsDir(cfg.out_dir)
            prepare_rung(results, cfg)
            sweep = Sweep(self.ray, cfg, search.data(cfg.data), results, 0,
                           search.log)
            self.sweeps[k] = (sweep, results)
        return self.sweeps[k]

    def _submit(self, k: int, index: int) -> None:
        record = self.search.records[index]
        sweep, results = self._sweep(k)
        trial = Trial(display_name(record.text), rung_seed(self.search.cfg))
        sweep._forget(trial)
        sweep._submit(trial, 1)
        self.running[f"{k}/{trial.id}"] = (k, index)

    def _open(self) -> list[int]:
        return [b for b, done in sorted(self.search.batches.items()) if not done]

    def _fill(self) -> None:
        """Resume unfinished batches, then propose new ones up to batches_in_flight."""
        search, s = self.search, self.search.cfg.search
        for batch in self._open():
            waiting = [i for i in search.pool.members.get(batch, [])
                       if search.records[i].result(0) is None]
            if not waiting:  # killed between its last result and its end
                self._close(batch)
            for index in waiting:
                if not self._in_flight(0, index):
                    self._submit(0, index)
        while (len(self._open()) < s.batches_in_flight and search.pool.n_trainable < s.candidates
               and not search.meta["exhausted"]):
            batch = search.new_batch()
            if batch is None:
                break
            for index in search.pool.members.get(batch, []):
                self._submit(0, index)
            if not search.pool.members.get(batch):  # every proposal refused or a duplicate
                self._close(batch)

    def _in_flight(self, k: int, index: int) -> bool:
        return (k, index) in self.running.values()

    def run(self) -> None:
        try:
            self._fill()
            self._promote()
            while any(sweep.running for sweep, _ in self.sweeps.values()):
                refs = [ref for sweep, _ in self.sweeps.values() for ref in sweep.running]
                ready, _ = self.ray.wait(refs, num_returns=1, timeout=0.5)
                for sweep, _ in self.sweeps.values():
                    sweep._collect_messages()
                for ref in ready:
                    self._arrived(ref)
                self._fill()
                self._promote()
            for batch in self._open():  # every member has its result (e.g. none trainable)
                self._close(batch)
        finally:
            for sweep, _ in self.sweeps.values():
                for ref in sweep.running:
                    self.ray.cancel(ref, force=True)
                self.ray.kill(sweep.outbox)

    def _arrived(self, ref: Any) -> None:
        search = self.search
        k = next(k for k, (sweep, _) in self.sweeps.items() if ref in sweep.running)
        sweep, results = self.sweeps[k]
        attempt = sweep.running.pop(ref)
        result = sweep._finish(ref, attempt)
        if result is None:  # a lost worker: submitted again
            return
        result.config = trial_config(sweep.cfg, attempt.trial).to_dict()  # as executors do
        results.save_record(result)
        _, index = self.running.pop(f"{k}/{attempt.trial.id}")
        run = RungRun(history_of(results, attempt.trial.id), str(result.status),
                      result.diverged_epoch, result.error)
        search.finish(k, index, run, tell=True)
        if k == 0:
            batch = search.records[index].batch
            if all(search.records[i].result(0) is not None
                   for i in search.pool.members.get(batch, [])):
                self._close(batch)

    def _close(self, batch: int) -> None:
        search = self.search
        for k, (_, results) in self.sweeps.items():  # config.yaml lists who entered the rung
            prepare_rung(results, rung_config(search.cfg, k, search.pool.entered(k, [])))
        search.db.finish_batch(batch, search.generator_state())
        search.batches[batch] = True
        search.write(final=False)
        search.progress.batch_done(search, batch)

    def _promote(self) -> None:
        search = self.search
        for k in range(search.n_rungs - 1):
            for index in search.standings.boards[k].promotable():
                if not self._in_flight(k + 1, index):
                    self._submit(k + 1, index)
