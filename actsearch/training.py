"""Training one trial: build, compile with the configured optimizer, fit with crash-safe
callbacks, test.

Everything a crash must not lose is written by callbacks at each epoch's end, in this
order: the diagnostics rows (if on), the history row, the best weights (if kept), then
Keras' BackupAndRestore state. A rerun resumes from the last backup, and the history
and diagnostics are stitched there (rows an interrupted attempt wrote beyond the resume
point are dropped), never duplicated: a crash loses at most the epoch in progress.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import pandas as pd

from actsearch.activations import ActivationOptions
from actsearch.batches import fit_batches, training_batches
from actsearch.config import Config, TrainingConfig
from actsearch.data import Dataset
from actsearch.diagnostics import ClipRule, DiagnosticsWriter, probe_indices
from actsearch.losses import get_loss
from actsearch.models import MNIST_CLASSES, MNIST_INPUT_SHAPE, build_model
from actsearch.optimizer import make_optimizer
from actsearch.storage import EpochTable, ResultsDir
from actsearch.tensorboard_logs import require_tensorboard, tensorboard_callback, trial_hparams
from actsearch.trials import Status, Trial, TrialResult, trial_config


def build_uncompiled_model(cfg: Config, activation: str,
                           input_shape: tuple[int, ...] = MNIST_INPUT_SHAPE,
                           num_classes: int = MNIST_CLASSES) -> keras.Model:
    """The configured architecture for one activation and the data's shape (the trainers
    pass Dataset.input_shape and .num_classes), in the configured precision."""
    set_precision(cfg)
    options = ActivationOptions(leaky_relu_slope=cfg.model.leaky_relu_slope)
    m = cfg.model
    return build_model(m.architecture, activation, options, input_shape, num_classes,
                       depth=m.depth, width=m.width)


def build_compiled_model(cfg: Config, activation: str,
                         input_shape: tuple[int, ...] = MNIST_INPUT_SHAPE,
                         num_classes: int = MNIST_CLASSES,
                         steps: int | None = None) -> keras.Model:
    """Compiled for training; `steps` per epoch (steps_per_epoch(cfg, data)) are needed when
    the optimizer has a learning-rate schedule."""
    model = build_uncompiled_model(cfg, activation, input_shape, num_classes)
    model.compile(optimizer=make_optimizer(cfg.training.optimizer, steps, cfg.training.epochs),
                  loss=get_loss(cfg.training.loss),
                  metrics=list(cfg.training.metrics), **compile_options(cfg))
    return model


def steps_per_epoch(cfg: Config, data: Dataset) -> int:
    """Optimizer steps in one epoch: batches of the training images (the last one partial)."""
    return math.ceil(len(data.x_train) / cfg.training.batch_size)


def check_model(cfg: Config, data: Dataset) -> None:
    """Build the network once for the data, so a builder that does not fit it (or returns no
    usable model) is refused in one line before the results folder is claimed."""
    build_uncompiled_model(cfg, cfg.model.activations[0], data.input_shape, data.num_classes)
    keras.backend.clear_session()


def compile_options(cfg: Config) -> dict:
    """The execution speed levers that Keras takes at compile time."""
    e = cfg.execution
    return {"steps_per_execution": e.steps_per_execution, "jit_compile": e.jit_compile}


def set_precision(cfg: Config) -> None:
    """Keras' dtype policy is global: set it (back) before every build. Mixed precision
    computes in float16 on a GPU (tensor cores) and bfloat16 on a CPU (no float16 units)."""
    policy = "float32"
    if cfg.execution.mixed_precision:
        import tensorflow as tf

        policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    keras.config.set_dtype_policy(policy)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's learning rate (the one the next step uses) to each epoch's logs as
    `learning_rate`, as Keras' LearningRateScheduler does; runs before the writers."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate))


class HistoryWriter(keras.callbacks.Callback):
    """Rewrites <out>/histories/<trial>.csv after every epoch, with epoch seconds.

    Epochs are numbered from 1 in the file. On a resumed fit the first epoch it sees
    tells where to cut the rows left by the interrupted attempt.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.table = EpochTable(path)
        self._started = False
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if not self._started:
            self.table.start(epoch)
            self._started = True

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["seconds"] = time.perf_counter() - self._start
        self.table.extend([row])


def _best_so_far(history: pd.DataFrame, monitor: str, mode: str) -> float | None:
    if history.empty or monitor not in history or not history[monitor].notna().any():
        return None
    return float(history[monitor].min() if mode == "min" else history[monitor].max())


def train_trial(trial: Trial, cfg: Config, data: Dataset, results: ResultsDir,
                verbose: int = 2, extra_callbacks: Sequence[keras.callbacks.Callback] = ()
                ) -> TrialResult:
    """Train one (activation, point, seed) with its trial_config, resuming from its backup if
    an earlier run was cut off. `extra_callbacks` run after the ones here, so they see each
    epoch's files written (the Ray executor ships them to the driver from there)."""
    cfg = trial_config(cfg, trial)
    started = time.perf_counter()
    keras.utils.set_random_seed(trial.seed)
    model = build_compiled_model(cfg, trial.activation, data.input_shape, data.num_classes,
                                 steps_per_epoch(cfg, data))
    t = cfg.training
    callbacks = [LearningRateLogger(), *trial_callbacks(trial, cfg, data, results)]
    backup = results.backup_path(trial.id) / "backup"
    resuming = backup.exists()
    callbacks.append(backup_callback(backup))
    if cfg.output.tensorboard:  # after the backup: an epoch is logged once the backup holds it
        require_tensorboard(cfg)
        callbacks.append(tensorboard_callback(
            results.root / "tensorboard" / trial.id, trial.id,
            trial_hparams(cfg, trial.activation, trial.seed, dict(trial.point)), resuming))
    callbacks.append(keras.callbacks.TerminateOnNaN())
    if t.early_stopping_patience:
        monitor, mode = watched(cfg)
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode,
                                                       patience=t.early_stopping_patience))
    callbacks.extend(extra_callbacks)
    fit_arrays(model, data, data.y_train, data.y_val, t, trial.seed, callbacks, verbose)
    return finish_trial(trial, cfg, data, results, model, started)


def fit_arrays(model: keras.Model, data: Dataset, y_train, y_val, t: TrainingConfig, seed: int,
               callbacks: list[keras.callbacks.Callback], verbose: int) -> None:
    """`model.fit` on the data set's images with these labels (an array, or a dict of arrays
    for a model with one output per trial): the training batches in the order of
    training.shuffle and this seed (actsearch.batches), validation in the data's order."""
    train, order = training_batches(data.x_train, y_train, t.batch_size, t.shuffle, seed,
                                    t.epochs)
    model.fit(train, epochs=t.epochs, shuffle=False, verbose=verbose,
              callbacks=[*order, *callbacks],
              validation_data=fit_batches(data.x_val, y_val, t.batch_size))


def watched(cfg: Config) -> tuple[str, str]:
    """(Keras' monitor, mode) for restore-best and early stopping: the objective on the
    validation data."""
    return f"val_{cfg.objective.metric}", cfg.objective.direction


def trial_callbacks(trial: Trial, cfg: Config, data: Dataset, results: ResultsDir
                    ) -> list[keras.callbacks.Callback]:
    """One trial's own bookkeeping, in the order a crash needs (diagnostics, history, best
    weights); the caller adds the backup of the model it trains."""
    callbacks: list[keras.callbacks.Callback] = []
    if cfg.diagnostics.enabled:  # first, so its probe is not timed as training
        callbacks.append(diagnostics_writer(cfg, data, results.diagnostics_path(trial.id)))
    callbacks.append(HistoryWriter(results.history_path(trial.id)))
    if cfg.training.restore_best:
        best_path = _best_path(results, trial)
        best_path.parent.mkdir(parents=True, exist_ok=True)
        previous = results.load_history(trial.id)
        monitor, mode = watched(cfg)
        callbacks.append(keras.callbacks.ModelCheckpoint(
            best_path, monitor=monitor, mode=mode, save_best_only=True, save_weights_only=True,
            initial_value_threshold=_best_so_far(previous, monitor, mode)))
    return callbacks


def backup_callback(path: Path) -> keras.callbacks.Callback:
    """Keras' resume state, written at each epoch's end."""
    return SafeBackupAndRestore(path, double_checkpoint=True)


class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore falls back to its previous copy when the latest is corrupt,
    but a kill during the very first write leaves no previous copy, and every rerun would
    then fail to open it: start that trial over instead (nothing was finished yet)."""

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except OSError:
            shutil.rmtree(self.backup_dir, ignore_errors=True)


def _best_path(results: ResultsDir, trial: Trial) -> Path:
    return results.backup_path(trial.id) / "best.weights.h5"


def finish_trial(trial: Trial, cfg: Config, data: Dataset, results: ResultsDir,
                 model: keras.Model, started: float) -> TrialResult:
    """After training: restore the best weights if asked, test, save, drop the resume state.
    `model` must be compiled with the trial's loss and metrics."""
    history = results.load_history(trial.id)
    diverged = first_nonfinite_epoch(history)
    best_path = _best_path(results, trial)
    restored = cfg.training.restore_best and best_path.is_file() and diverged is None
    if restored:
        model.load_weights(best_path)
    test = None if restored or diverged is not None else validated_on_test(data, history)
    if test is None:
        test = model.evaluate(fit_batches(data.x_test, data.y_test, 1024),
                              verbose=0, return_dict=True)
    if cfg.output.save_models:
        results.model_path(trial.id).parent.mkdir(parents=True, exist_ok=True)
        model.save(results.model_path(trial.id))
    shutil.rmtree(results.backup_path(trial.id), ignore_errors=True)  # resume state: done with
    return TrialResult(
        trial_id=trial.id, activation=trial.activation, seed=trial.seed,
        status=Status.DIVERGED if diverged is not None else Status.OK,
        epochs_run=len(history), params=model.count_params(),
        test={k: float(v) for k, v in test.items()}, diverged_epoch=diverged,
        seconds=time.perf_counter() - started,
    )


def validated_on_test(data: Dataset, history: pd.DataFrame) -> dict[str, float] | None:
    """The test metrics of the final weights when the last epoch's validation already was
    that pass (validation on the test set, the article's protocol): a second evaluation
    would repeat it. None when it was not (a held-out split, or no validation logged)."""
    if data.validation != "test" or history.empty:
        return None
    last = history.iloc[-1]
    test = {col.removeprefix("val_"): float(last[col]) for col in history.columns
            if col.startswith("val_")}
    return test if test and all(math.isfinite(v) for v in test.values()) else None


def diagnostics_writer(cfg: Config, data: Dataset, path: Path) -> DiagnosticsWriter:
    d, o = cfg.diagnostics, cfg.training.optimizer
    idx = probe_indices(len(data.x_train), d.probe_size, d.probe_seed)
    clip = ClipRule(o.clipvalue, o.clipnorm, o.global_clipnorm)
    return DiagnosticsWriter(path, data.x_train[idx], data.y_train[idx],
                             get_loss(cfg.training.loss), clip, d.dead_threshold, d.every)


def first_nonfinite_epoch(history: pd.DataFrame) -> int | None:
    for _, row in history.iterrows():
        if not math.isfinite(row["loss"]):
            return int(row["epoch"])
    return None

