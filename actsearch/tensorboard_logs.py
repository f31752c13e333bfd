"""TensorBoard logs of each trial (`output.tensorboard: true`): Keras' scalars per epoch under
<out>/tensorboard/<trial id>/{train,validation}, and the trial's HParams (activation, seed,
loss, learning rate, epochs, and any swept value) so TensorBoard's HParams table compares
activations and seeds side by side.

An epoch is logged exactly once across a crash and a resume: the callback goes after Keras'
BackupAndRestore, so an epoch is logged only once the backup holds it and a resume never
retrains a logged epoch (Keras writes each epoch's scalars inside `writer.as_default()`,
whose exit flushes them to disk). A trial that starts over drops its old logs. TensorFlow
2.20+ no longer installs the tensorboard package: `pip install actsearch[tensorboard]`.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from actsearch.config import Config
from actsearch.errors import UserError

HParamValue = bool | int | float | str


def require_tensorboard(cfg: Config) -> None:
    """Fail in one line, before any work, when output.tensorboard is on without TensorBoard."""
    if not cfg.output.tensorboard:
        return
    try:
        import tensorboard.plugins.hparams.api  # noqa: F401
    except ImportError:
        raise UserError("output.tensorboard needs the tensorboard package, which is not "
                        "installed here: pip install 'actsearch[tensorboard]'") from None


def trial_hparams(cfg: Config, activation: str, seed: int,
                  swept: Mapping[str, Any] | None = None) -> dict[str, HParamValue]:
    """The HParams of one trial: what differs between trials, what the table should show,
    and any further swept values (as text unless they are numbers, booleans or text)."""
    t = cfg.training
    values: dict[str, Any] = {"activation": activation, "seed": seed, "loss": t.loss,
                              "optimizer": t.optimizer.name,
                              "learning_rate": t.optimizer.learning_rate, "epochs": t.epochs,
                              **(swept or {})}
    return {k: v if isinstance(v, HParamValue) else str(v) for k, v in values.items()}


def tensorboard_callback(log_dir: Path, trial_id: str, hparams: Mapping[str, HParamValue],
                         resuming: bool) -> keras.callbacks.Callback:
    """Keras' TensorBoard callback for one trial, its HParams written; place it after the
    trial's BackupAndRestore. `resuming`: an earlier attempt's backup will be restored (else
    logs of an attempt that started over are removed, so no epoch appears twice)."""
    if not resuming:
        shutil.rmtree(log_dir, ignore_errors=True)
    write_hparams(log_dir, trial_id, hparams)
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), update_freq="epoch",
                                       write_graph=False)


def write_hparams(log_dir: Path, trial_id: str, hparams: Mapping[str, HParamValue]) -> None:
    """The HParams session summary in the trial's log folder (once: a resume keeps it)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    if any(log_dir.glob("events.out.tfevents.*")):
        return
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        hp.hparams(dict(hparams), trial_id=trial_id)
    writer.close()

