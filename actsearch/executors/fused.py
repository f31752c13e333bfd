"""The fused executor: a (sweep point, seed)'s trials trained as one Keras model, one branch per
activation.

Every branch sees the same input batches; the model's loss is the sum of the branch losses,
so each branch's gradient is exactly its own loss's gradient. With element-wise clipping
(clipvalue) or per-tensor clipping (clipnorm) and Adam's per-parameter moments, each branch
then takes the same update it would take trained alone on that batch order (dropout masks
differ per branch, as they do anyway). One trial is a branch: its initial weights are the
local executor's (same seed, built the same way), and its per-branch logs become its usual
history, diagnostics, best-weights checkpoint and trial record.

What differs from the local executor, by design:
- the batch order is one per seed, shared by that seed's activations (the local executor
  draws it after building each model, so it differs between activations);
- a branch whose epoch loss is non-finite is marked diverged at that epoch and no longer
  recorded (it trains on, harmlessly, until the group ends); the local executor stops a
  diverging trial within the epoch, so that epoch's train metrics average fewer batches;
- the history's `seconds` and the record's `seconds` are the whole group's, which trained
  all its branches in that time;
- an interrupted group resumes from the Keras backup of the fused model
  (state/fused[-<point>]-seed<N>).
Setups where branches would interact are refused at config time (check_fused_config).
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterable, Iterator

import keras
import numpy as np

from actsearch.config import Config
from actsearch.data import Dataset
from actsearch.errors import UserError
from actsearch.executors.base import Executor, Log
from actsearch.losses import get_loss
from actsearch.models import MNIST_CLASSES, MNIST_INPUT_SHAPE, is_graph_model
from actsearch.optimizer import make_optimizer
from actsearch.storage import ResultsDir
from actsearch.training import (
    LearningRateLogger,
    backup_callback,
    build_uncompiled_model,
    compile_options,
    finish_trial,
    first_nonfinite_epoch,
    fit_arrays,
    steps_per_epoch,
    trial_callbacks,
)
from actsearch.trials import Trial, TrialResult, point_id, point_label, trial_config


def check_fused_config(cfg: Config) -> None:
    """Refuse, in one line, what would couple the branches of a fused model."""
    reasons = {
        "training.optimizer.global_clipnorm": (cfg.training.optimizer.global_clipnorm,
                                               "clips by the norm over every branch's weights"),
        "training.early_stopping_patience": (cfg.training.early_stopping_patience,
                                             "would stop all branches together"),
        "execution.mixed_precision": (cfg.execution.mixed_precision or None,
                                      "shares one loss scale, so one branch's overflow skips "
                                      "every branch's step"),
        "output.tensorboard": (cfg.output.tensorboard or None,
                               "Keras' TensorBoard callback logs the one fused model"),
        "pruning.enabled": (cfg.pruning.enabled or None, "its branches train as one model"),
    }
    for key, (value, why) in reasons.items():
        if value is not None:
            raise UserError(f"execution.executor fused cannot be used with {key} ({why}); "
                            f"use execution.executor local")


def build_fused_model(cfg: Config, trials: list[Trial],
                      input_shape: tuple[int, ...] = MNIST_INPUT_SHAPE,
                      num_classes: int = MNIST_CLASSES, steps: int | None = None
                      ) -> tuple[keras.Model, dict[str, keras.Model]]:
    """(the compiled fused model, {trial id: its branch}) for the data's image shape and
    classes; `steps` per epoch for a learning-rate schedule. Outputs are named by trial id, so
    Keras logs `<trial id>_loss`, `val_<trial id>_categorical_accuracy`, ..."""
    inputs = keras.Input(shape=input_shape, name="images")
    branches: dict[str, keras.Model] = {}
    t = cfg.training
    for trial in trials:
        keras.utils.set_random_seed(trial.seed)  # the local executor's initial weights
        branch = build_uncompiled_model(cfg, trial.activation, input_shape, num_classes)
        # compiled on its own too, to be tested, checkpointed and saved like a lone model
        branch.compile(optimizer=make_optimizer(t.optimizer, steps, t.epochs),
                       loss=get_loss(t.loss),
                       metrics=list(t.metrics))
        branches[trial.id] = branch
    outputs = {tid: branch_output(cfg, branch, inputs) for tid, branch in branches.items()}
    model = keras.Model(inputs, outputs, name="fused")
    model.compile(optimizer=make_optimizer(t.optimizer, steps, t.epochs),
                  loss={tid: get_loss(t.loss) for tid in branches},
                  metrics={tid: list(t.metrics) for tid in branches}, **compile_options(cfg))
    return model, branches


def branch_output(cfg: Config, branch: keras.Model, inputs: keras.KerasTensor
                  ) -> keras.KerasTensor:
    """`branch` applied to the shared input; a model that cannot be a branch (more than one
    input or output, or not callable on a symbolic batch) is refused in one line."""
    refuse = (f"execution.executor fused cannot branch model.architecture "
              f"{cfg.model.architecture}")
    if is_graph_model(branch) and (len(branch.inputs) != 1 or len(branch.outputs) != 1):
        raise UserError(f"{refuse}: it has {len(branch.inputs)} inputs and "
                        f"{len(branch.outputs)} outputs; use execution.executor local")
    try:
        output = branch(inputs)
    except Exception as exc:  # noqa: BLE001 - the user's model: say why in one line
        text = str(exc).strip().splitlines()
        raise UserError(f"{refuse}: calling it on the shared input raised "
                        f"{type(exc).__name__}{': ' + text[0] if text else ''}; use "
                        f"execution.executor local") from None
    if not isinstance(output, keras.KerasTensor):
        raise UserError(f"{refuse}: it does not give one output tensor; use "
                        f"execution.executor local")
    return output


def branch_logs(logs: dict, trial_id: str, names: list[str], alone: bool = False
                ) -> dict[str, float]:
    """One branch's share of the fused logs, under the names a lone model would log. `alone`:
    the only branch (a grown study's one new activation), whose logs Keras leaves unprefixed."""
    out = {}
    for prefix in ("", "val_"):
        for name in names:
            key = f"{prefix}{name}" if alone else f"{prefix}{trial_id}_{name}"
            if key in logs:
                out[prefix + name] = float(logs[key])
    if "learning_rate" in logs:  # the one optimizer's, shared by every branch
        out["learning_rate"] = float(logs["learning_rate"])
    return out


class BranchCallbacks(keras.callbacks.Callback):
    """Runs each trial's own callbacks on its branch with its share of the logs, and retires
    a branch from the records once its loss is non-finite (the other branches train on)."""

    def __init__(self, per_trial: dict[str, list[keras.callbacks.Callback]],
                 branches: dict[str, keras.Model], names: list[str],
                 retired: Iterable[str] = ()):
        super().__init__()
        self.per_trial = per_trial
        self.names = names
        self.active = set(per_trial) - set(retired)
        for tid, callbacks in per_trial.items():
            for callback in callbacks:
                callback.set_model(branches[tid])

    def set_params(self, params):
        super().set_params(params)
        for callbacks in self.per_trial.values():
            for callback in callbacks:
                callback.set_params(params)

    def _in_order(self) -> list[tuple[str, keras.callbacks.Callback]]:
        """Every active trial's first callback (diagnostics), then every second one, ...: the
        crash-safe order of each trial, and no trial's probe timed in another's epoch."""
        lists = [(tid, self.per_trial[tid]) for tid in self.per_trial if tid in self.active]
        width = max((len(c) for _, c in lists), default=0)
        return [(tid, c[i]) for i in range(width) for tid, c in lists if i < len(c)]

    def on_epoch_begin(self, epoch, logs=None):
        for _, callback in self._in_order():
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        alone = len(self.per_trial) == 1
        own = {tid: branch_logs(logs or {}, tid, self.names, alone) for tid in self.active}
        for tid, callback in self._in_order():
            callback.on_epoch_end(epoch, own[tid])
        for tid, values in own.items():
            if not math.isfinite(values.get("loss", math.nan)):
                self.active.discard(tid)
        if not self.active:
            self.model.stop_training = True


class FusedExecutor(Executor):
    """Per (sweep point, seed), the pending trials as one fused model."""

    name = "fused"

    def check(self, cfg: Config) -> None:
        check_fused_config(cfg)

    def run_pending(self, trials: list[Trial], cfg: Config, data: Dataset,
                    results: ResultsDir, verbose: int, log: Log) -> Iterator[TrialResult]:
        for point, seed in dict.fromkeys((t.point, t.seed) for t in trials):
            group = [t for t in trials if (t.point, t.seed) == (point, seed)]
            where = f" {point_label(point)}" if point else ""
            log(f"fused{where} seed {seed}: " + ", ".join(t.activation for t in group)
                + " as one model")
            yield from train_group(group, cfg, data, results, verbose)
            keras.backend.clear_session()


def train_group(trials: list[Trial], cfg: Config, data: Dataset, results: ResultsDir,
                verbose: int) -> list[TrialResult]:
    """Train one (point, seed)'s trials together, then test and record each as the local
    executor does; they share the point's trial_config."""
    cfg = trial_config(cfg, trials[0])
    started = time.perf_counter()
    t = cfg.training
    model, branches = build_fused_model(cfg, trials, data.input_shape, data.num_classes,
                                        steps_per_epoch(cfg, data))
    keras.utils.set_random_seed(trials[0].seed)  # dropout (and shuffle: once's batch order)
    names = ["loss", *t.metrics]
    per_trial = {trial.id: trial_callbacks(trial, cfg, data, results) for trial in trials}
    backup = results.backup_path(group_id(trials[0].seed, trials[0].point))
    resumed = (backup / "backup").exists()  # branches that had diverged stay retired
    retired = [trial.id for trial in trials if resumed
               and first_nonfinite_epoch(results.load_history(trial.id)) is not None]
    callbacks = [LearningRateLogger(), BranchCallbacks(per_trial, branches, names, retired),
                 backup_callback(backup / "backup")]
    fit_arrays(model, data, _per_output(branches, data.y_train),
               _per_output(branches, data.y_val), t, trials[0].seed, callbacks, verbose)
    out = []
    for trial in trials:
        out.append(finish_trial(trial, cfg, data, results, branches[trial.id], started))
    shutil.rmtree(backup, ignore_errors=True)
    return out


def group_id(seed: int, point: tuple = ()) -> str:
    return f"fused{point_id(point)}-seed{seed}"


def _per_output(branches: dict[str, keras.Model], y: np.ndarray) -> dict[str, np.ndarray]:
    return {tid: y for tid in branches}
