"""The Ray executor: every trial a Ray task, the results folder written here, on the driver.

The driver connects to Ray (a local instance it starts, `auto`, or a `ray://` address), puts
the data set in the object store once, and submits one task per unfinished trial with the
configured CPUs and (possibly fractional) GPUs. Workers send each epoch's files back through
an actor (ray_worker.py); the driver writes them under the same names a local run uses,
and trials/<trial>.json when a trial ends. A trial whose worker dies (process killed, node
lost, out of memory) is started again from epoch 1, its partial files replaced, up to
`execution.max_retries` times; after that, or when the training code raises, it is recorded
as failed with the error, and the rest of the sweep goes on. Ray is imported only here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from actsearch.config import Config, ExecutionConfig
from actsearch.data import Dataset
from actsearch.errors import UserError
from actsearch.executors.base import Executor, Log
from actsearch.executors.ray.faults import FAULT_HOOK
from actsearch.executors.ray.worker import Outbox, run_trial, worker_env
from actsearch.files import write_atomic
from actsearch.models import check_importable
from actsearch.storage import ResultsDir
from actsearch.trials import Status, Trial, TrialResult

POLL_SECONDS = 0.5  # how often the driver collects epoch messages while it waits


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("execution.executor=ray needs Ray, which is not installed here: "
                        "pip install -e '.[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(execution: ExecutionConfig, log: Log, quiet: bool = False) -> Iterator[Any]:
    """Ray, connected as the config says. A Ray the caller already initialised (a notebook)
    is used as it is and left running; one started or joined here is shut down after.
    Quiet: the workers' own output (TensorFlow's start-up lines) is not forwarded here."""
    ray = import_ray()
    if ray.is_initialized():
        log(f"actsearch: using the Ray this process already runs: {_describe(ray)}")
        yield ray
        return
    address = execution.address or "local"  # "local" always starts a new instance
    options: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": not quiet}
    if address == "local":
        options["include_dashboard"] = False
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        hint = "" if address == "local" else (
            "; is the cluster up, and does this machine have its token (the head's "
            "~/.ray/auth_token, and RAY_AUTH_MODE=token)?")
        raise UserError(f"cannot start or reach Ray at execution.address={address}: "
                        f"{_one_line(exc)}{hint}") from None
    try:
        log(f"actsearch: Ray at {address}: {_describe(ray)}")
        yield ray
    finally:
        ray.shutdown()


def _describe(ray: Any) -> str:
    resources = ray.cluster_resources()
    return (f"{resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs, "
            f"{len(ray.nodes())} node(s)")


def check_fits(ray: Any, execution: ExecutionConfig, log: Log) -> None:
    """A trial no node can hold would wait forever: refuse it on a local instance (nothing
    will join), warn on a cluster (an autoscaler may add a node)."""
    need = {"CPU": execution.resources_per_trial.cpu, "GPU": execution.resources_per_trial.gpu}
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
        return
    largest = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)), default={})
    problem = (f"execution.resources_per_trial asks for {need['CPU']:g} CPU and "
               f"{need['GPU']:g} GPU per trial, but no Ray node has that much (the largest "
               f"has {largest.get('CPU', 0):g} CPU, {largest.get('GPU', 0):g} GPU)")
    if not execution.address:
        raise UserError(problem)
    log(f"actsearch: warning: {problem}; trials wait until such a node joins")


@dataclass
class Attempt:
    """One submission of a trial, and what the driver has heard of it so far."""

    trial: Trial
    number: int
    started: float = field(default_factory=time.perf_counter)
    epochs: int = 0
    params: int = 0
    files: set[str] = field(default_factory=set)


class RayExecutor(Executor):
    """Trials as Ray tasks; their files come back through Ray and are written here."""

    name = "ray"
    requires = ("ray", "ray")

    def check(self, cfg: Config) -> None:
        """Workers import the builder by name: a function they cannot import is refused. A
        retried trial restarts from epoch 1 while its earlier attempt's TensorBoard events stay
        on the driver, so TensorBoard logs are refused here (the histories are exact)."""
        if cfg.output.tensorboard:
            raise UserError("execution.executor ray cannot be used with output.tensorboard "
                            "(a retried trial would log its epochs twice); use execution."
                            "executor local")
        if cfg.pruning.enabled:  # peers finish out of order on a cluster: not supported yet
            raise UserError("execution.executor ray cannot be used with pruning.enabled; use "
                            "execution.executor local")
        try:
            check_importable(cfg.model.architecture)
        except UserError as exc:
            raise UserError(f"execution.executor ray: {exc}; or use execution.executor "
                            f"local") from None

    def run_pending(self, trials: list[Trial], cfg: Config, data: Dataset,
                    results: ResultsDir, verbose: int, log: Log) -> Iterator[TrialResult]:
        with ray_session(cfg.execution, log, quiet=verbose == 0) as ray:
            check_fits(ray, cfg.execution, log)
            yield from Sweep(ray, cfg, data, results, verbose, log).run(trials)


class Sweep:
    """The driver's loop: submit, collect epoch messages, retry lost trials, record."""

    def __init__(self, ray: Any, cfg: Config, data: Dataset, results: ResultsDir,
                 verbose: int, log: Log):
        self.ray, self.cfg, self.results, self.verbose, self.log = ray, cfg, results, verbose, log
        self.data = ray.put(data)  # once, not once per trial
        self.outbox = ray.remote(num_cpus=0)(Outbox).remote()
        resources = cfg.execution.resources_per_trial
        # max_retries=0: retries are decided here, where the partial files can be reset
        self.task = ray.remote(run_trial).options(
            num_cpus=resources.cpu, num_gpus=resources.gpu, max_retries=0,
            runtime_env={"env_vars": worker_env(cfg.execution)})
        self.running: dict[Any, Attempt] = {}
        self.current: dict[str, Attempt] = {}
        self.tries = 1 + cfg.execution.max_retries

    def run(self, trials: list[Trial]) -> Iterator[TrialResult]:
        """Each trial's result as it ends (the executor records it)."""
        try:
            for trial in trials:
                self._forget(trial)  # an interrupted earlier run's partial files: restart at 1
                self._submit(trial, 1)
            while self.running:
                ready, _ = self.ray.wait(list(self.running), num_returns=1,
                                         timeout=POLL_SECONDS)
                self._collect_messages()  # before results: a task's last epoch precedes its end
                for ref in ready:
                    attempt = self.running.pop(ref)
                    result = self._finish(ref, attempt)
                    if result is not None:
                        yield result
        finally:  # Ctrl-C or an error here: stop the trials too, even on a Ray left running
            for ref in self.running:
                self.ray.cancel(ref, force=True)
            self.ray.kill(self.outbox)

    def _submit(self, trial: Trial, number: int) -> None:
        attempt = Attempt(trial, number)
        self.current[trial.id] = attempt
        ref = self.task.remote(trial, self.cfg, self.data, number, self.outbox,
                               os.environ.get(FAULT_HOOK, ""))
        self.running[ref] = attempt

    def _forget(self, trial: Trial, files: Iterable[str] = ()) -> None:
        """Remove what earlier attempts left of a trial that starts again from epoch 1."""
        own = {self.results.history_path(trial.id), self.results.diagnostics_path(trial.id)}
        for path in own | {self.results.root / f for f in files}:
            path.unlink(missing_ok=True)
        shutil.rmtree(self.results.backup_path(trial.id), ignore_errors=True)

    def _collect_messages(self) -> None:
        for message in self.ray.get(self.outbox.take.remote()):
            attempt = self.current.get(message["trial"])
            if attempt is None or attempt.number != message["attempt"]:
                continue  # from an attempt that has since been given up
            self._handle(attempt, message)

    def _handle(self, attempt: Attempt, message: dict[str, Any]) -> None:
        where = attempt.trial.head
        if message["kind"] == "started":
            attempt.params = message["params"]
            again = f", attempt {attempt.number}/{self.tries}" if attempt.number > 1 else ""
            self.log(f"{where}: started on {message['node']} (pid {message['pid']}{again})")
        elif message["kind"] == "epoch":
            self._write(attempt, message["files"])
            attempt.epochs = message["epoch"]
            if self.verbose:
                metrics = ", ".join(f"{k} {v:.4f}" for k, v in message["logs"].items())
                self.log(f"{where}: epoch {attempt.epochs}/{self.cfg.training.epochs}: "
                         f"{metrics}")

    def _write(self, attempt: Attempt, files: dict[str, bytes]) -> None:
        for rel, content in files.items():
            write_atomic(self.results.root / rel, content)
            attempt.files.add(rel)

    def _finish(self, ref: Any, attempt: Attempt) -> TrialResult | None:
        """The trial's result; None when it was submitted again."""
        exceptions = self.ray.exceptions
        lost = (exceptions.WorkerCrashedError, exceptions.NodeDiedError,
                exceptions.OutOfMemoryError, exceptions.ObjectLostError,
                exceptions.LocalRayletDiedError)
        try:
            output = self.ray.get(ref)
        except exceptions.RayTaskError as exc:  # the training code raised: the same again
            return self._failed(attempt, _one_line(getattr(exc, "cause", None) or exc))
        except lost as exc:
            if attempt.number >= self.tries:
                return self._failed(attempt, f"worker lost on all {self.tries} attempt(s) "
                                             f"(last: {_one_line(exc)})")
            self.log(f"{attempt.trial.head}: worker lost after epoch {attempt.epochs} "
                     f"({_one_line(exc)}); starting it again from epoch 1")
            self._forget(attempt.trial, attempt.files)
            self._submit(attempt.trial, attempt.number + 1)
            return None
        except exceptions.RayError as exc:
            return self._failed(attempt, f"{type(exc).__name__}: {_one_line(exc)}")
        self._write(attempt, output["files"])
        return TrialResult(**{**output["result"], "attempts": attempt.number})

    def _failed(self, attempt: Attempt, error: str) -> TrialResult:
        t = attempt.trial
        return TrialResult(trial_id=t.id, activation=t.activation, seed=t.seed,
                           status=Status.FAILED, epochs_run=attempt.epochs,
                           params=attempt.params, error=error, attempts=attempt.number,
                           seconds=time.perf_counter() - attempt.started)


def _one_line(exc: BaseException) -> str:
    """The gist of an error for a summary line: its type and first line, no traceback."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__
