"""The local executor: one trial after another, in this process."""

from __future__ import annotations

import keras

from actsearch.config import Config
from actsearch.data import Dataset
from actsearch.executors.base import Executor, mark_pruned
from actsearch.storage import ResultsDir
from actsearch.training import train_trial
from actsearch.trials import Trial, TrialResult


class LocalExecutor(Executor):
    """The Keras session is cleared between trials so graphs and layer-name counters do not
    pile up over a long sweep."""

    name = "local"

    def run_trial(self, trial: Trial, cfg: Config, data: Dataset, results: ResultsDir,
                  verbose: int) -> TrialResult:
        pruning = self.pruning_callbacks(trial, cfg, data, results)
        result = train_trial(trial, cfg, data, results, verbose=verbose, extra_callbacks=pruning)
        keras.backend.clear_session()
        return mark_pruned(result, pruning)
