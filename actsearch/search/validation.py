"""The images a search's rungs train and validate on.

With `data.validation: split`, an ordinary run holds out a fraction of its own (limited)
training images, so rungs of different sizes would validate on different images, a few hundred
at rung 0, and a larger rung would train on a smaller one's validation images. A search instead
holds out `search.validation_images` images once per data source (a fixed random draw from its
training images, seed SPLIT_SEED; the first data.limit_train of them where the search's data
section sets it and the rung shares its source): every rung with that source validates on them,
and each trains on the first `limit_train` of the images left, so no rung trains on any of them.
When
the source has too few images for that, the held-out set is what the largest rung leaves (at
least data.validation_split of the images) and one line says so. With `data.validation: test`
(search.allow_test_selection) a rung validates on the test set, as an ordinary run does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from actsearch.config import Config, DataConfig
from actsearch.data import SPLIT_SEED, Dataset, load_dataset
from actsearch.search.rungs import rung_config


@dataclass(frozen=True)
class HeldOut:
    """Which images of a source's training set validate, and how many are asked for."""

    validation: np.ndarray  # indices into the whole training set, sorted
    training: np.ndarray  # the rest, in their order: a rung trains on the first limit_train
    wanted: int


def source_key(section: DataConfig) -> str:
    """What identifies a data source: the section without limit_train (rungs differ there)."""
    return json.dumps(dataclasses.asdict(dataclasses.replace(section, limit_train=None)),
                      sort_keys=True)


def held_out(n_total: int, largest: int | None, wanted: int, fraction: float) -> HeldOut:
    """`wanted` held-out images of `n_total`, or, when the largest rung (None: all images)
    would then lack images, what it leaves, but at least `fraction` of them (and at least one
    image on each side)."""
    rest = n_total - (largest if largest is not None else n_total)
    n_val = min(wanted, max(rest, round(fraction * n_total)))
    n_val = max(1, min(n_val, n_total - 1))
    order = np.random.default_rng(SPLIT_SEED).permutation(n_total)
    validation = np.sort(order[:n_val])
    training = np.setdiff1d(np.arange(n_total), validation)
    return HeldOut(validation, training, wanted)


class RungData:
    """Each rung's data set (and the screening's: rung 0's), loaded once per source."""

    def __init__(self, cfg: Config, log: Callable[[str], None]):
        self.cfg, self.log = cfg, log
        self._sources: dict[str, Dataset] = {}
        self._held: dict[str, HeldOut] = {}
        self._made: dict[str, Dataset] = {}
        self._largest: dict[str, int | None] = {}
        for k in range(len(cfg.search.rungs)):
            section = rung_config(cfg, k, []).data
            key = source_key(section)
            if key in self._largest and self._largest[key] is None:
                continue
            limit = section.limit_train
            self._largest[key] = None if limit is None else max(limit,
                                                                self._largest.get(key) or 0)

    def __call__(self, section: DataConfig) -> Dataset:
        whole = json.dumps(dataclasses.asdict(section), sort_keys=True)
        if whole not in self._made:
            self._made[whole] = (load_dataset(section) if section.validation != "split"
                                 else self._split(section))
        return self._made[whole]

    def _split(self, section: DataConfig) -> Dataset:
        key = source_key(section)
        if key not in self._sources:
            pool = self.cfg.data.limit_train if key == source_key(self.cfg.data) else None
            source = dataclasses.replace(section, limit_train=pool, validation="test")
            self._sources[key] = load_dataset(source)
            n_total = len(self._sources[key].x_train)
            wanted = self.cfg.search.validation_images
            held = held_out(n_total, self._largest.get(key, section.limit_train), wanted,
                            section.validation_split)
            self._held[key] = held
            largest = self._largest.get(key)
            if len(held.validation) < wanted or (largest is not None
                                                 and largest > len(held.training)):
                self.log(f"search: {section.dataset} has {n_total} training images: the rungs "
                         f"validate on {len(held.validation)} held out (search.validation_images "
                         f"{wanted}) and train on at most {len(held.training)}")
        data, held = self._sources[key], self._held[key]
        train = held.training[:section.limit_train]
        return Dataset(data.x_train[train], data.y_train[train],
                       data.x_train[held.validation], data.y_train[held.validation],
                       data.x_test, data.y_test, validation="split")

