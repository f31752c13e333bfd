"""The checks a config needs from more than one layer, run once before anything trains: that
every name it uses is registered or importable (activations, architecture, data set, loss,
optimizer and its arguments, schedule),
that the architecture takes the model settings given, and that the chosen executor accepts
it. A bad config fails here in one line, before any work."""

from __future__ import annotations

from actsearch.activations import display_name, get_spec
from actsearch.config import Config
from actsearch.data import ARRAYS, DATASETS
from actsearch.errors import UserError
from actsearch.executors import EXECUTORS
from actsearch.losses import LOSSES
from actsearch.models import builder_settings, get_builder
from actsearch.optimizer import check_optimizer
from actsearch.tensorboard_logs import require_tensorboard


def check(cfg: Config) -> Config:
    """`cfg` itself when everything it names exists and fits together; else a UserError."""
    for name in cfg.model.activations:
        get_spec(name)
    names = [display_name(name) for name in cfg.model.activations]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"model.activations names {', '.join(twice)} twice (under different "
                        f"spellings)")
    build = get_builder(cfg.model.architecture)
    builder_settings(build, cfg.model.depth, cfg.model.width, cfg.model.architecture)
    if cfg.data.dataset != ARRAYS:  # a typo is an error even when data.path is set
        DATASETS.canonical(cfg.data.dataset, "data.dataset")
    loss = LOSSES.get(LOSSES.canonical(cfg.training.loss, "training.loss"))
    if loss.from_cached_logits and cfg.execution.mixed_precision:
        raise UserError(f"training.loss {loss.name} cannot be used with "
                        f"execution.mixed_precision: the cast to float32 drops the cached "
                        f"logits it is computed from")
    check_optimizer(cfg.training.optimizer, cfg.training.epochs)
    executor = EXECUTORS.get(EXECUTORS.canonical(cfg.execution.executor, "execution.executor"))
    executor().check(cfg)
    require_tensorboard(cfg)
    return cfg
