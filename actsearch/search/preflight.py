"""What a search checks and measures before any training: the config's refusals in one line
(check_search), the parts of a config that define a search (search_defining, compared on
resume; differing names the first key that changed), each rung's network built on its data
(check_networks), and the range of the network's pre-activations that candidates are
screened over (preactivation_range)."""

from __future__ import annotations

import json
from collections.abc import Callable

import keras
import numpy as np

from actsearch.checks import check
from actsearch.config import Config, DataConfig, config_from_dict
from actsearch.data import Dataset
from actsearch.diagnostics import probe_indices
from actsearch.errors import UserError
from actsearch.expressions import parse
from actsearch.search.engine import set_seed_keeping_programs
from actsearch.search.rungs import (
    confirm_config,
    refuse_test_selection,
    refuse_unsupported_seeds,
    rung_config,
)
from actsearch.search.space import SearchSpace
from actsearch.search.trainers import one_line
from actsearch.training import build_uncompiled_model

DataOf = Callable[[DataConfig], Dataset]


def search_space_of(cfg: Config) -> SearchSpace:
    s = cfg.search.space
    values = {k: v for k, v in (("unary", s.unary), ("binary", s.binary)) if v is not None}
    return SearchSpace(**values, units=s.units, constants=s.constants, beta=s.beta,
                       second_unary=s.second_unary, second_binary=s.second_binary)


def check_search(cfg: Config) -> SearchSpace:
    """Everything a search needs, refused in one line before any work."""
    refuse_test_selection(cfg)
    refuse_unsupported_seeds(cfg)
    space = search_space_of(cfg)
    for text in cfg.search.include:
        parse(text)
    baselines = list(cfg.search.confirm.baselines)
    derived = [(f"search.rungs[{k}]", rung_config(cfg, k, ["relu"]))
               for k in range(len(cfg.search.rungs))]
    derived.append(("search.confirm", confirm_config(cfg, [] if baselines else ["relu"])))
    for where, section_cfg in derived:
        try:
            check(section_cfg)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
    return space


# Keys of `search` that may change when a search resumes: they decide how much is trained,
# confirmed or measured, not which candidates are proposed or how they score.
RESUMABLE_SEARCH_KEYS = ("candidates", "confirm", "allow_test_selection", "batches_in_flight",
                         "fidelity")
# execution keys that change a search's numbers (as mixed_precision changes a run's): they
# define a search, so a resumed search with another value is refused
NUMERIC_EXECUTION = ("mixed_precision", "jit_compile")


def search_defining(raw: dict) -> dict:
    """The parts of a config that decide which candidates and numbers a search gets (where
    it writes, how it runs, how the confirm run is reported, the budget, the confirm step and
    the fidelity measurement may change); keys added to actsearch since a search began count
    as their defaults."""
    raw = json.loads(json.dumps(config_from_dict(raw).to_dict()))
    execution = raw.get("execution") or {}
    numeric = {key: execution.get(key) for key in NUMERIC_EXECUTION}  # change the numbers
    for key in ("output", "plots", "statistics", "execution", "diagnostics"):
        raw.pop(key, None)
    raw["execution"] = numeric
    raw["model"].pop("activations", None)
    search = raw.get("search") or {}
    for key in RESUMABLE_SEARCH_KEYS:
        search.pop(key, None)
    return raw


def differing(old: dict, new: dict, prefix: str = "") -> str:
    """The first dotted key whose value differs, with both values (for a refusal's line)."""
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = differing(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"{prefix}{key} was {a!r}, now {b!r}"
    return ""


def check_networks(cfg: Config, data_of: DataOf) -> None:
    """Each rung's network built once on its data (with the identity), so a network and
    data that do not fit together are refused in one line before any training."""
    for k in range(len(cfg.search.rungs)):
        rung = rung_config(cfg, k, ["linear"])
        data = data_of(rung.data)
        try:
            build_uncompiled_model(rung, "linear", data.input_shape, data.num_classes)
        except Exception as exc:  # noqa: BLE001 - any builder's refusal, in one line
            raise UserError(f"search.rungs[{k}]: model.architecture "
                            f"{rung.model.architecture} cannot be built for data.dataset "
                            f"{rung.data.dataset} (input {data.input_shape}): "
                            f"{one_line(exc)}") from None


def screening_range(cfg: Config, data_of: DataOf) -> tuple[float, float]:
    """search.screen_range, or the measured pre-activation range of rung 0's network on its
    data widened by search.screen_scale."""
    s = cfg.search
    if s.screen_range is not None:
        low, high = s.screen_range
        return float(low), float(high)
    first = rung_config(cfg, 0, ["linear"])
    low, high = preactivation_range(first, data_of(first.data), s.screen_percentile)
    return low * s.screen_scale, high * s.screen_scale


def preactivation_range(cfg: Config, data: Dataset, percentile: float) -> tuple[float, float]:
    """The [p, 100-p] percentiles of the inputs of the network's `*_act` layers on a probe
    batch of training images, the architecture built with the identity activation."""
    set_seed_keeping_programs(cfg.training.seeds[0])
    model = build_uncompiled_model(cfg, "linear", data.input_shape, data.num_classes)
    layers = [layer for layer in model.layers if layer.name.endswith("_act")]
    if not layers:
        raise UserError(f"model.architecture {cfg.model.architecture} names no layer *_act, so "
                        "the pre-activation range cannot be measured; set search.screen_range")
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    idx = probe_indices(len(data.x_train), cfg.diagnostics.probe_size, cfg.diagnostics.probe_seed)
    outputs = probe.predict(data.x_train[idx], batch_size=256, verbose=0)
    del probe, model  # no clear_session(): it would drop the engine's compiled programs
    values = np.concatenate([np.ravel(o) for o in outputs])
    low, high = np.percentile(values, [percentile, 100.0 - percentile])
    if not low < high:
        raise UserError(f"the measured pre-activation range [{low:g}, {high:g}] is empty; set "
                        "search.screen_range")
    return float(low), float(high)
