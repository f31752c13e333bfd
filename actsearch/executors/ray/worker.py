"""What runs on a Ray worker: one trial in a private folder, its files mirrored to the driver.

Workers need not share a file system with the driver. So a trial trains exactly as a local
one does, but into a temporary results folder on the worker, and after every epoch the
files that changed there (histories/<trial>.csv and any other per-epoch file) travel to the
driver through an Outbox actor; the files written at the end (a saved model) travel with
the task's return value. The driver writes them into the real folder under the same names, so
the layout is the local one byte for byte. Keras' resume state (state/<trial>) stays on the
worker: a trial whose worker dies starts again from epoch 1.

The driver (driver.py) makes `run_trial` a Ray task and `Outbox` an actor; Ray is
imported only where a task waits for its messages to be delivered.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras

from actsearch.config import Config, ExecutionConfig
from actsearch.data import Dataset
from actsearch.executors.ray.faults import fault_hooks
from actsearch.storage import ResultsDir
from actsearch.training import train_trial
from actsearch.trials import Trial


def worker_env(execution: ExecutionConfig) -> dict[str, str]:
    """The environment a trial's worker process starts with (Ray keeps one pool of workers
    per environment, so a worker never carries settings from another share of the machine).
    TensorFlow's thread pools match the trial's CPUs: left alone they take every core of
    the node, and trials sharing it would fight. GPU memory grows as needed instead of each
    trial grabbing the card, so fractional GPUs can share one."""
    threads = str(max(1, math.ceil(execution.resources_per_trial.cpu)))
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads,
            "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


class Outbox:
    """Messages from the trials, in order, until the driver takes them (a Ray actor).

    Workers send without waiting (`put.remote`): a task blocked in ray.get lends its CPUs to
    other tasks, and more trials than cores would then train at once. An actor with one
    thread runs one sender's calls in the order sent, so once a task's last put is done,
    all its earlier ones are too."""

    def __init__(self):
        self.messages: list[dict[str, Any]] = []

    def put(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def take(self) -> list[dict[str, Any]]:
        taken, self.messages = self.messages, []
        return taken


class FolderMirror:
    """The files of a results folder that changed since the last look, as {relative path:
    bytes}; resume state and half-written temporary files are left out."""

    def __init__(self, root: Path):
        self.root = root
        self._seen: dict[str, tuple[int, int, int]] = {}

    def changed(self) -> dict[str, bytes]:
        out = {}
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if not path.is_file() or rel.parts[0] == "state" or path.name.startswith("."):
                continue
            stat = path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # atomic writes: new inode
            if self._seen.get(str(rel)) != stamp:
                self._seen[str(rel)] = stamp
                out[rel.as_posix()] = path.read_bytes()
        return out


class EpochReporter(keras.callbacks.Callback):
    """Sends the driver's Outbox a 'started' message (where the trial runs) and, after each
    epoch, the epoch's metrics and the files that changed; tagged with trial and attempt."""

    def __init__(self, mirror: FolderMirror, outbox: Any, tag: dict[str, Any]):
        super().__init__()
        self.mirror, self.outbox, self.tag = mirror, outbox, tag
        self._last: Any = None  # the ObjectRef of the latest put

    def send(self, message: dict[str, Any]) -> None:
        self._last = self.outbox.put.remote({**self.tag, **message})

    def delivered(self) -> None:
        """Wait until every message sent is in the Outbox (a put ends after all earlier)."""
        if self._last is not None:
            import ray

            ray.get(self._last)

    def on_train_begin(self, logs=None):
        self.send({"kind": "started", "node": socket.gethostname(), "pid": os.getpid(),
                   "params": self.model.count_params()})

    def on_epoch_end(self, epoch, logs=None):
        self.send({"kind": "epoch", "epoch": epoch + 1,
                   "logs": {k: float(v) for k, v in (logs or {}).items()},
                   "files": self.mirror.changed()})


def run_trial(trial: Trial, cfg: Config, data: Dataset, attempt: int, outbox: Any,
              faults: str = "") -> dict[str, Any]:
    """The Ray task: train one trial here; per-epoch messages go to `outbox` (an Outbox
    actor, tagged with the trial and attempt); returns the TrialResult and the last files,
    after the messages have arrived. `faults`: the fault-injection spec, for tests only."""
    if cfg.training.deterministic:  # as run_experiment does for a local run
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()

    with tempfile.TemporaryDirectory(prefix=f"actsearch-{trial.id}-") as tmp:
        mirror = FolderMirror(Path(tmp))
        reporter = EpochReporter(mirror, outbox, {"trial": trial.id, "attempt": attempt})
        callbacks = [reporter, *fault_hooks(faults, trial.id, attempt, reporter)]
        result = train_trial(trial, cfg, data, ResultsDir(tmp), verbose=0,
                             extra_callbacks=callbacks)
        files = mirror.changed()
    keras.backend.clear_session()  # the worker process runs the next trial too
    reporter.delivered()  # the last epoch is with the driver before the result says "done"
    return {"result": asdict(result), "files": files}
