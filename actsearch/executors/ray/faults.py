"""Test-only fault injection for the Ray executor: a worker that dies (SIGKILL) or a trial
that raises, at a chosen epoch and attempt, so the retry and failure paths are tested on a
real Ray. Nothing outside the tests sets FAULT_HOOK."""

from __future__ import annotations

import os
import signal
from typing import Any

import keras

# Test-only fault injection, TRIAL:EPOCH:ATTEMPTS[:raise] separated by commas. E.g.
# "relu-seed0:1:1,elu-seed1:1:99,gelu-seed0:2:1:raise": the worker running relu-seed0
# SIGKILLs itself right after epoch 1 on its first attempt, elu-seed1's on each of its first
# 99 attempts; gelu-seed0's training raises after epoch 2. Read from the driver's
# environment and handed to each task; nothing else reads it.
FAULT_HOOK = "ACTSEARCH_TEST_FAULTS"


class InjectedFault(keras.callbacks.Callback):
    """Test-only (see FAULT_HOOK): once the given epoch is with the driver, the worker process
    kills itself with SIGKILL (a real worker death) or the training code raises."""

    def __init__(self, epoch: int, how: str, reporter: Any):
        super().__init__()
        self.epoch, self.how, self.reporter = epoch, how, reporter

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 != self.epoch:
            return
        self.reporter.delivered()
        if self.how == "raise":
            raise RuntimeError(f"fault injected after epoch {self.epoch}")
        os.kill(os.getpid(), signal.SIGKILL)


def fault_hooks(faults: str, trial_id: str, attempt: int, reporter: Any
                ) -> list[keras.callbacks.Callback]:
    for spec in filter(None, faults.split(",")):
        name, epoch, attempts, how = (spec.split(":") + ["kill"])[:4]
        if name == trial_id and attempt <= int(attempts):
            return [InjectedFault(int(epoch), how, reporter)]
    return []
