"""The one place where config keys are defined, given defaults and validated.

A config is a YAML file whose sections mirror the dataclasses below. This module checks
types, ranges and combinations of keys, and imports nothing else of actsearch; names that
plug-in registries define (activations, losses, data sets, executors) are checked by
`actsearch.checks.check`, which runs before anything trains, so a typo costs a one-line
error, not an hour of training. Paths are relative to the directory the command runs in.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actsearch.errors import UserError

# Each field's trailing comment says what the key does: docs/config.md is generated from them
# (actsearch.config_reference). Continue a long one on the lines below as `#   ...` (two or more
# spaces after the #); a `# ...` block right above a field is added to its description.
ARTICLE_ACTIVATIONS = ["sigmoid", "relu", "elu", "leaky-relu", "selu", "gelu-tanh"]
VALIDATION_MODES = ("test", "split")
SHUFFLE_MODES = ("epoch", "once", False)  # training.shuffle
METRICS = ("binary_accuracy", "categorical_accuracy")
MODES = ("max", "min")
SEARCH_ALGORITHMS = ("evolution", "random")
SEARCH_SCORES = ("last", "best")
RUNG_METRICS = ("loss", "metric")
PRUNING_RULES = ("median", "chance")
PLOT_FORMATS = ("png", "svg", "pdf")


@dataclass
class DataConfig:
    dataset: str = "mnist"  # mnist, fashion_mnist, cifar10, cifar100 (downloaded once into
    #   Keras' cache; data.path reads a local copy), or mnist_sample (real digits in the package)
    path: str | None = None  # an .npz (x_train, y_train, x_test, y_test) or a folder of 4 IDX .gz
    loader: str | None = None  # module:function returning (x_train, y_train, x_test, y_test)
    origin: str | None = None  # base URL to download from instead of Keras' default
    limit_train: int | None = None  # first N training images (quick runs)
    limit_test: int | None = None  # first N test images
    validation: str = "test"  # "test": validate on the test set (the article); "split": hold out
    #   a stratified validation_split of the training set and test once, at the end
    validation_split: float = 0.1  # fraction of training images held out when validation=split


@dataclass
class ModelConfig:
    architecture: str = "article_cnn"  # article_cnn, mlp, vgg_small, or module:function
    depth: int | None = None  # hidden layers of architectures that take it (mlp: default 3)
    width: int | None = None  # units per hidden layer of those that take it (mlp: default 128)
    activations: list[str] = field(default_factory=lambda: list(ARTICLE_ACTIVATIONS))  # one
    #   trial per activation and seed: registered names, module:function or expressions of x
    leaky_relu_slope: float = 0.2  # the article's LeakyReLU(alpha=0.2); Keras' default is 0.3


@dataclass
class ScheduleConfig:
    """A learning-rate schedule over the whole training (steps = epochs x batches per epoch);
    keys a schedule does not take stay null."""
    name: str = "cosine"  # cosine, exponential or piecewise
    warmup_epochs: int | None = None  # cosine: linear warmup from 0 first (null: 0)
    alpha: float | None = None  # cosine: final rate as a fraction of learning_rate (null: 0)
    decay_rate: float | None = None  # exponential: factor per epoch (required)
    boundaries: list[int] | None = None  # piecewise: epochs after which the rate changes
    factors: list[float] | None = None  # piecewise: multiples of learning_rate, one per span


@dataclass
class OptimizerConfig:
    name: str = "adam"  # any Keras optimizer by name: adam, adamw, sgd, rmsprop, nadam, ...
    learning_rate: float = 0.001  # the step size; a schedule scales it (0.001: the article's)
    options: dict[str, Any] = field(default_factory=dict)  # the optimizer's other arguments,
    #                                   e.g. {momentum: 0.9, nesterov: true} for sgd
    schedule: ScheduleConfig | None = None  # null: a constant learning rate
    clipvalue: float | None = 0.5  # the article's Adam(clipvalue=0.5)
    clipnorm: float | None = None  # rescale each weight's gradient to at most this L2 norm
    global_clipnorm: float | None = None  # rescale all gradients together to at most this norm
    fused_kernel: bool = True  # adam only: TensorFlow's one-pass Adam kernel (as tf.keras 2
    #                    used): 2-3% faster epochs on CPU; false: Keras 3's update (other rounding)


@dataclass
class TrainingConfig:
    epochs: int = 100  # epochs per trial (the article: 100)
    batch_size: int = 128  # images per training step (the article: 128)
    loss: str = "binary_crossentropy"  # the article's: on the softmax probabilities, as Keras 2;
    #                                    or any Keras loss by name (labels are one-hot)
    metrics: list[str] = field(default_factory=lambda: list(METRICS))  # recorded every epoch:
    #   binary_accuracy (the article's "accuracy") and/or categorical_accuracy (10-class)
    seeds: list[int] = field(default_factory=lambda: [0])  # one trial per activation and seed;
    #   a seed fixes initial weights, split and batch order, the same for every activation
    deterministic: bool = True  # TensorFlow op determinism: same seed, same history
    shuffle: str | bool = "epoch"  # epoch: a new order of the training set every epoch, from
    #   (seed, epoch) alone, as Keras 2's fit (the article's); once: one order for the whole run,
    #   Keras 3's seeded fit (results made before this key); false: the data's order
    restore_best: bool = False  # evaluate the test set with the best-validation weights
    early_stopping_patience: int | None = None  # epochs without improvement; None: off
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class ObjectiveConfig:
    """What the experiment optimises (as Ray Tune's TuneConfig(metric=, mode=)): it ranks the
    activations (on the test set, at the end), and restore-best and early stopping watch it
    on the validation data (`val_<metric>`)."""

    metric: str = "categorical_accuracy"  # "loss" or one of training.metrics
    mode: str | None = None  # max or min; null: min for a loss, max otherwise

    @property
    def direction(self) -> str:
        return self.mode or ("min" if "loss" in self.metric else "max")


@dataclass
class PruningConfig:
    """Opt-in: stop a trial that cannot matter at an epoch's end (actsearch.pruning); it is
    marked pruned, kept on disk and counted as the worst outcome in the statistics (never in
    the means). Judged on the objective."""

    enabled: bool = False  # prune at all (local executor only; fused and ray refuse it)
    rules: list[str] = field(default_factory=lambda: ["median"])  # median and/or chance
    grace_epochs: int = 3  # never pruned before this many epochs
    min_peers: int = 2  # median: finished trials of the same sweep point needed to compare
    chance_margin: float = 0.05  # chance: still at chance within this share of the way to 1


@dataclass
class OutputConfig:
    dir: str | None = None  # default: results/<name>
    save_models: bool = False  # write <out>/models/<trial>.keras
    tensorboard: bool = False  # TensorBoard scalars and HParams per trial in <out>/tensorboard/
    #                            (needs the tensorboard package: pip install actsearch[tensorboard])


@dataclass
class PlotsConfig:
    metric: str | None = None  # the accuracy drawn; null: objective.metric (loss is always drawn)
    exclude: list[str] = field(default_factory=lambda: ["sigmoid"])  # the validation plots are
    #   drawn again without these (val_*_without_<names>.png), as the article left sigmoid out
    formats: list[str] = field(default_factory=lambda: ["png"])  # add svg or pdf for papers


@dataclass
class StatisticsConfig:
    """How the report tests the ranking (actsearch.statistics); changes no trial."""

    reference: str | None = None  # an activation named before the data were seen (e.g. relu):
    #                               each other one is tested against it, Holm over the family;
    #                               null: Hsu's multiple comparisons with the best by mean


@dataclass
class DiagnosticsConfig:
    enabled: bool = True  # gradient norms, clipping, dead units, activation stats per epoch
    probe_size: int = 512  # training images measured (the same ones for every trial); fewer
    #                        bias the numbers (gradient norms up, rare units read dead)
    probe_seed: int = 0  # which training images form the probe
    dead_threshold: float = 0.0  # a unit is dead if |output| <= this for every probe image
    every: int = 5  # probe before training, after each of the first k epochs, then after every
    #                 k-th and the last: 512 images cost ~3% of a 20,000-image epoch, k=5 keeps
    #                 a long run's probe under 1% (benchmarks/README.md); 1: every epoch


@dataclass
class ResourcesConfig:
    cpu: float = 1.0  # CPUs reserved per trial; also TensorFlow's thread count on the worker
    gpu: float = 0.0  # GPUs per trial; a fraction (0.25) lets several small trials share a card


@dataclass
class ExecutionConfig:
    executor: str = "local"  # local: one trial after another here; fused: a seed's trials as
    #                          one model; ray: on a Ray cluster
    address: str | None = None  # ray: empty starts a local Ray here; auto; ray://HOST:10001
    resources_per_trial: ResourcesConfig = field(default_factory=ResourcesConfig)
    max_retries: int = 2  # ray: reruns of a trial whose worker died, before it is marked failed
    # Speed levers, off by default: on where they help (a GPU), off on CPU because they measured
    # slower there or change the numbers (benchmarks/README.md).
    steps_per_execution: int = 1  # train steps per compiled call: fewer Python round trips
    jit_compile: bool = False  # XLA: faster on GPU; ~6x slower on CPU, and not bit-identical
    mixed_precision: bool = False  # float16 (GPU) / bfloat16 (CPU) compute: changes the numbers


@dataclass
class SearchSpaceConfig:
    """Maps to actsearch.search.space.SearchSpace (primitive names are checked there)."""

    unary: list[str] | None = None  # null: every unary primitive
    binary: list[str] | None = None  # null: every binary primitive
    units: int = 1  # core units b(u1(z), u2(z)) chained: 1 or 2
    constants: bool = True  # coefficients may be 0.5, 1, 1.5, 2
    beta: bool = True  # ... or a learnable beta (one scalar per layer)
    # With units 2, the second unit may draw from smaller sets (null: the first unit's): a
    # space between one unit and two. Distinct functions, counted by enumeration
    # (benchmarks/search_space_sizes.py): the default one unit 6,049; search-fashion's 1,834;
    # the default unit then a second of [x, tanh, sigmoid, relu] x [add, mul] 96,483; two
    # default units: 119,946,304 genomes, at most 6,097 x 10,952 = 6.7e7 functions.
    second_unary: list[str] | None = None  # units 2: the second unit's unary primitives
    second_binary: list[str] | None = None  # units 2: the second unit's binary primitives


@dataclass
class RungConfig:
    """One rung of successive halving: every candidate that reaches it trains from scratch."""

    epochs: int = 1  # epochs each candidate trains at this rung
    limit_train: int | None = None  # first N training images; null: data.limit_train
    # Transfer: this rung trains another network or data set, e.g. {architecture: article_cnn}
    # or {dataset: mnist, path: ...}; keys of the model / data sections, the rest inherited.
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # as model, for the data section
    seeds: int = 1  # seeds each candidate trains with here (the same for all); scores the mean


@dataclass
class ConfirmConfig:
    """The best candidates retrained beside the baselines, with several seeds."""

    top: int = 2  # candidates confirmed
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # the rungs' seed is replaced
    #   by the next unused one; a claim needs enough seeds (8 for 4 comparisons)
    epochs: int | None = None  # null: training.epochs
    limit_train: int | None = None  # null: data.limit_train
    baselines: list[str] = field(default_factory=lambda: ["relu", "gelu", "swish"])  # the
    #   activations the candidates must beat
    model: dict[str, Any] = field(default_factory=dict)  # as a rung's (transfer)
    data: dict[str, Any] = field(default_factory=dict)  # as a rung's (transfer)
    # Fidelity of the last rung to this protocol: candidates of the last rung trained once
    # (the first confirm seed) with the confirm run's network, data and epochs, not counted
    # as confirmed; pairs go to search/fidelity_pairs.csv (kind confirm).
    probes: int = 16  # drawn at random from the last rung (all of it when it holds fewer)
    probe_top: int = 16  # the last rung's best


@dataclass
class FidelityConfig:
    """Every search measures whether its scores can order its candidates (search/fidelity.csv):
    extra trainings that are neither candidates nor promoted; 0 turns a measurement off."""

    retest_random: int = 16  # per rung: drawn at random, trained again with other seeds
    retest_top: int = 16  # per rung: the rung's best, trained again with other seeds (as
    #                       many as the rung's, none a rung's or the confirm run's)
    probes: int = 16  # per rung above 0: drawn at random from all the rung below scored,
    #                   promoted or not; the ones not promoted train at this rung too


@dataclass
class SearchConfig:
    """`actsearch search`: which candidates, how many, and the successive-halving rungs."""

    algorithm: str = "evolution"  # evolution (aging evolution) or random (sampling only)
    seed: int = 0  # the sequence of candidates; training uses training.seeds[0]
    candidates: int = 24  # candidates trained in total (refused and duplicates do not count)
    batch: int = 32  # candidates proposed and trained together (one engine program: 32 is
    #                  the engine's largest; fewer cost nearly as much per batch)
    population_size: int = 16  # aging evolution keeps the newest this many; random until then
    sample_size: int = 4  # tournament size
    include: list[str] = field(default_factory=list)  # expressions evaluated first
    space: SearchSpaceConfig = field(default_factory=SearchSpaceConfig)
    rungs: list[RungConfig] = field(default_factory=lambda: [RungConfig(1, 2000),
                                                             RungConfig(3, 8000)])  # the
    #   successive-halving rungs, cheapest first: {epochs, limit_train, model, data} each
    keep: float = 0.33  # promoted: the top fraction of all a rung has seen (1/eta, ASHA)
    score: str = "last"  # the rung's objective: its last epoch or its best epoch
    rung_metric: str = "loss"  # a rung's score: loss (validation loss, continuous: orders the
    #                            top) or metric (objective.metric, e.g. accuracy: ties)
    validation_images: int = 2000  # held-out images each rung validates on (data.validation
    #            split): the same for the rungs sharing data, trained on by none; fewer if the
    #            data has too few
    screen_percentile: float = 0.5  # screen over the [p, 100-p] percentiles of pre-activations
    screen_scale: float = 3.0  # widens that range: pre-activations grow during training, and
    #                            over the narrow initial range tanh-like candidates look linear
    screen_range: list[float] | None = None  # or a fixed [low, high] (no measuring)
    confirm: ConfirmConfig = field(default_factory=ConfirmConfig)
    fidelity: FidelityConfig = field(default_factory=FidelityConfig)  # measured by default
    # A search selects on its validation data; with data.validation: test that is the test set
    # the confirm run reports, so the search refuses it unless this says otherwise.
    allow_test_selection: bool = False
    batches_in_flight: int = 2  # execution.executor ray: batches training at once


@dataclass
class Config:
    name: str = "experiment"  # names the run; results go to results/<name> unless output.dir
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    plots: PlotsConfig = field(default_factory=PlotsConfig)
    statistics: StatisticsConfig = field(default_factory=StatisticsConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    sweep: dict[str, list[Any]] = field(default_factory=dict)  # {dotted key: [values]}

    @property
    def plot_metric(self) -> str:
        return self.plots.metric or self.objective.metric

    @property
    def out_dir(self) -> Path:
        return Path(self.output.dir or f"results/{self.name}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.search == SearchConfig():  # results folders from before the section match
            del d["search"]
        if not self.sweep:  # ... and so do runs without a sweep
            del d["sweep"]
        if self.statistics == StatisticsConfig():  # ... and without a statistics section
            del d["statistics"]
        return d


def load_config(path: str | Path | None, overrides: typing.Sequence[str] = (),
                values: dict[str, Any] | None = None, base: dict[str, Any] | None = None
                ) -> Config:
    """Read a YAML config (or start from `base`, or defaults), apply `dotted.key=value`
    overrides (CLI, values parsed as YAML) and `values` (API, {dotted key: value}), validate."""
    raw: dict[str, Any] = copy.deepcopy(base) if base else {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            problem = getattr(exc, "problem", exc)
            raise UserError(f"{path} is not valid YAML{where}: {problem}") from None
        except OSError as exc:
            raise UserError(f"cannot read config {path}: {exc.strerror}") from None
        if not isinstance(raw, dict):
            raise UserError(f"{path} must hold a mapping of config keys, not {type(raw).__name__}")
    for item in overrides:
        apply_override(raw, item)
    for key, value in (values or {}).items():
        set_dotted(raw, key, value)
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    cfg = _build(Config, raw, "")
    validate(cfg)
    return cfg


def apply_override(raw: dict[str, Any], item: str) -> None:
    """`training.epochs=3` sets raw['training']['epochs'] = 3; the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set expects dotted.key=value, got {item!r}")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        raise UserError(f"--set {key}: value {text!r} is not valid YAML") from None
    set_dotted(raw, key.strip(), value)


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"cannot set {key}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def known_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted key a config may set, for suggestions and documentation."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        dotted = prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(known_keys(hints[f.name], dotted + "."))
        else:
            keys.append(dotted)
    return keys


def _build(cls: type, raw: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "the config"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{where} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            dotted = prefix + str(key)
            close = difflib.get_close_matches(dotted, known_keys(), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"unknown config key {dotted}{hint}")
    values = {}
    for name in names:
        if name not in raw:
            continue
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            values[name] = _build(tp, raw[name], prefix + name + ".")
        else:
            values[name] = _coerce(prefix + name, raw[name], tp)
    return cls(**values)


def _coerce(key: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for tp in inner[:-1]:  # str | bool: the first type the value is
            try:
                return _coerce(key, value, tp)
            except UserError:
                pass
        return _coerce(key, value, inner[-1])
    if dataclasses.is_dataclass(tp):  # a list of sections, e.g. search.rungs
        return _build(tp, value, key + ".")
    if origin is dict:  # the sweep {dotted key: [values]}; training.optimizer.options
        if not isinstance(value, dict):
            what = " of dotted config keys to lists of values" if key == "sweep" else ""
            raise UserError(f"{key} must be a mapping{what}, got {value!r}")
        return _flatten(value) if key == "sweep" else {str(k): v for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            value = [value]  # `seeds: 3` and `--set model.activations=relu` mean a list of one
        return [_coerce(key, v, args[0]) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise UserError(f"{key} must be {expected.get(tp, tp)}, got {value!r}")


def _flatten(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"depth": [2, 8]}} (as `--set sweep.model.depth=[2,8]` writes it) ->
    {"model.depth": [2, 8]}; dotted keys as written stay as they are, in order."""
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _one_of(key: str, value: str, allowed: typing.Iterable[str]) -> None:
    allowed = list(allowed)
    if value not in allowed:
        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UserError(f"{key}: unknown value {value!r}{hint}; choose from {', '.join(allowed)}")


def validate(cfg: Config) -> None:
    """Checks that need more than a type: ranges and combinations of keys."""
    if not cfg.name or "/" in cfg.name:
        raise UserError("name must be a non-empty string without '/'")
    d, t, o = cfg.data, cfg.training, cfg.training.optimizer
    _one_of("data.validation", d.validation, VALIDATION_MODES)
    if not 0.0 < d.validation_split < 1.0:
        raise UserError(f"data.validation_split must be between 0 and 1, got {d.validation_split}")
    for key in ("limit_train", "limit_test"):
        limit = getattr(d, key)
        if limit is not None and limit < 1:
            raise UserError(f"data.{key} must be at least 1, got {limit}")
    if d.path and d.loader:
        raise UserError("set only one of data.path and data.loader")
    for key in ("depth", "width"):
        size = getattr(cfg.model, key)
        if size is not None and size < 1:
            raise UserError(f"model.{key} must be at least 1 (or null for the default), got {size}")
    if not cfg.model.activations:
        raise UserError("model.activations is empty: name at least one activation")
    if len(set(cfg.model.activations)) != len(cfg.model.activations):
        raise UserError("model.activations lists an activation twice")
    if t.epochs < 1:
        raise UserError(f"training.epochs must be at least 1, got {t.epochs}")
    if t.batch_size < 1:
        raise UserError(f"training.batch_size must be at least 1, got {t.batch_size}")
    if t.shuffle not in SHUFFLE_MODES:
        raise UserError(f"training.shuffle must be epoch (a new order every epoch), once (one "
                        f"order for the run, Keras 3's) or false (the data's order), got "
                        f"{t.shuffle!r}")
    if not t.seeds:
        raise UserError("training.seeds is empty: give at least one seed")
    if len(set(t.seeds)) != len(t.seeds):
        raise UserError("training.seeds lists a seed twice")
    validate_statistics(cfg)
    if t.early_stopping_patience is not None and t.early_stopping_patience < 1:
        raise UserError("training.early_stopping_patience must be at least 1 (or null for off)")
    for metric in t.metrics:
        _one_of("training.metrics", metric, METRICS)
    if not o.name:
        raise UserError("training.optimizer.name is empty: name a Keras optimizer, e.g. adam")
    if o.schedule is not None:
        validate_schedule(o.schedule, t.epochs)
    if o.learning_rate <= 0:
        raise UserError(f"training.optimizer.learning_rate must be positive, got {o.learning_rate}")
    clips = {k: getattr(o, k) for k in ("clipvalue", "clipnorm", "global_clipnorm")}
    set_clips = [k for k, v in clips.items() if v is not None]
    if len(set_clips) > 1:
        raise UserError(f"set only one of training.optimizer.{{{', '.join(set_clips)}}}")
    for k in set_clips:
        if clips[k] <= 0:
            raise UserError(f"training.optimizer.{k} must be positive (or null for none)")
    _one_of("objective.metric", cfg.objective.metric, ["loss", *t.metrics])
    if cfg.objective.mode is not None:
        _one_of("objective.mode", cfg.objective.mode, MODES)
    if cfg.plots.metric is not None:
        _one_of("plots.metric", cfg.plots.metric, t.metrics)
    for fmt in cfg.plots.formats:
        _one_of("plots.formats", fmt, PLOT_FORMATS)
    if cfg.diagnostics.probe_size < 1:
        raise UserError(f"diagnostics.probe_size must be at least 1, got "
                        f"{cfg.diagnostics.probe_size}")
    if cfg.diagnostics.dead_threshold < 0:
        raise UserError("diagnostics.dead_threshold must be 0 or more")
    if cfg.diagnostics.every < 1:
        raise UserError(f"diagnostics.every must be at least 1, got {cfg.diagnostics.every}")
    validate_execution(cfg.execution)
    validate_search(cfg.search)
    validate_transfer(cfg)
    validate_pruning(cfg.pruning, cfg.objective)
    validate_sweep(cfg)


def validate_statistics(cfg: Config) -> None:
    """statistics.reference names an activation the run (or a search's confirm run) trains."""
    reference = cfg.statistics.reference
    if reference is None:
        return
    if not isinstance(reference, str) or not reference.strip():
        raise UserError("statistics.reference must name an activation (or be null)")
    searching = cfg.search != SearchConfig()
    trained = [*cfg.model.activations, *(cfg.search.confirm.baselines if searching else [])]
    if reference not in trained:
        raise UserError(f"statistics.reference {reference!r} is not among the activations "
                        f"trained ({', '.join(map(str, trained))})")


def validate_pruning(p: PruningConfig, objective: ObjectiveConfig) -> None:
    """The chance rule needs a chance level: accuracies have one, losses do not."""
    for rule in p.rules:
        _one_of("pruning.rules", rule, PRUNING_RULES)
    if not p.rules or len(set(p.rules)) != len(p.rules):
        raise UserError("pruning.rules must list median and/or chance, each once")
    if p.grace_epochs < 1:
        raise UserError(f"pruning.grace_epochs must be at least 1, got {p.grace_epochs}")
    if p.min_peers < 1:
        raise UserError(f"pruning.min_peers must be at least 1, got {p.min_peers}")
    if not 0.0 <= p.chance_margin < 1.0:
        raise UserError(f"pruning.chance_margin must be in [0, 1), got {p.chance_margin}")
    if "chance" in p.rules and ("accuracy" not in objective.metric
                                or objective.direction != "max"):
        raise UserError(f"pruning.rules chance needs an accuracy objective (a loss has no chance "
                        f"level), got objective.metric {objective.metric}; use the median rule")


def validate_schedule(s: ScheduleConfig, epochs: int) -> None:
    """Ranges of the schedule's values; which keys its name takes is checked with the name."""
    key = "training.optimizer.schedule"
    if s.warmup_epochs is not None and not 0 <= s.warmup_epochs < epochs:
        raise UserError(f"{key}.warmup_epochs must be 0 or more and less than training.epochs "
                        f"({epochs}), got {s.warmup_epochs}")
    if s.alpha is not None and not 0.0 <= s.alpha <= 1.0:
        raise UserError(f"{key}.alpha must be between 0 and 1, got {s.alpha}")
    if s.decay_rate is not None and s.decay_rate <= 0:
        raise UserError(f"{key}.decay_rate must be positive, got {s.decay_rate}")
    if s.boundaries is not None:
        b = s.boundaries
        if any(x < 1 or x >= epochs for x in b) or b != sorted(set(b)):
            raise UserError(f"{key}.boundaries must be increasing epochs from 1 to "
                            f"training.epochs - 1 ({epochs - 1}), got {b}")
    if s.factors is not None and any(f <= 0 for f in s.factors):
        raise UserError(f"{key}.factors must be positive, got {s.factors}")


_HOST_PORT = re.compile(r"[\w.\-]+:\d+|\[[0-9a-fA-F:]+\]:\d+")


def validate_execution(e: ExecutionConfig) -> None:
    """Where and with what share of a machine trials run; Ray wants whole numbers above 1."""
    if e.address and not (e.address == "auto" or e.address.startswith("ray://")
                          or _HOST_PORT.fullmatch(e.address)):
        raise UserError(f"execution.address must be empty (a local Ray started here), auto, "
                        f"ray://HOST:PORT or HOST:PORT, got {e.address!r}")
    for kind, amount, least in (("cpu", e.resources_per_trial.cpu, "more than 0"),
                                ("gpu", e.resources_per_trial.gpu, "0 or more")):
        if amount < 0 or (kind == "cpu" and amount == 0):
            raise UserError(f"execution.resources_per_trial.{kind} must be {least}, got {amount}")
        if amount > 1 and amount != int(amount):
            raise UserError(f"execution.resources_per_trial.{kind}: a share above 1 must be a "
                            f"whole number, got {amount}")
    if e.max_retries < 0:
        raise UserError(f"execution.max_retries must be 0 or more, got {e.max_retries}")
    if e.steps_per_execution < 1:
        raise UserError(f"execution.steps_per_execution must be at least 1, got "
                        f"{e.steps_per_execution}")


def validate_search(s: SearchConfig) -> None:
    """Ranges of the search section; primitive and activation names are checked by the search."""
    _one_of("search.algorithm", s.algorithm, SEARCH_ALGORITHMS)
    _one_of("search.score", s.score, SEARCH_SCORES)
    _one_of("search.rung_metric", s.rung_metric, RUNG_METRICS)
    if s.validation_images < 1:
        raise UserError(f"search.validation_images must be at least 1, got "
                        f"{s.validation_images}")
    for key in ("candidates", "batch", "population_size", "sample_size", "batches_in_flight"):
        if getattr(s, key) < 1:
            raise UserError(f"search.{key} must be at least 1, got {getattr(s, key)}")
    if s.population_size < 2:
        raise UserError(f"search.population_size must be at least 2, got {s.population_size}")
    if s.sample_size > s.population_size:
        raise UserError(f"search.sample_size ({s.sample_size}) must not exceed "
                        f"search.population_size ({s.population_size})")
    if s.space.units not in (1, 2):
        raise UserError(f"search.space.units must be 1 or 2, got {s.space.units}")
    if not s.rungs:
        raise UserError("search.rungs is empty: give at least one {epochs, limit_train}")
    for i, rung in enumerate(s.rungs):
        if rung.epochs < 1:
            raise UserError(f"search.rungs[{i}].epochs must be at least 1, got {rung.epochs}")
        if rung.limit_train is not None and rung.limit_train < 1:
            raise UserError(f"search.rungs[{i}].limit_train must be at least 1, got "
                            f"{rung.limit_train}")
        if rung.seeds < 1:
            raise UserError(f"search.rungs[{i}].seeds must be at least 1, got {rung.seeds}")
    if not 0.0 < s.keep <= 1.0:
        raise UserError(f"search.keep must be in (0, 1], got {s.keep}")
    if not 0.0 <= s.screen_percentile < 50.0:
        raise UserError(f"search.screen_percentile must be in [0, 50), got {s.screen_percentile}")
    if s.screen_scale <= 0:
        raise UserError(f"search.screen_scale must be positive, got {s.screen_scale}")
    if s.screen_range is not None and not (
            len(s.screen_range) == 2 and all(math.isfinite(v) for v in s.screen_range)
            and s.screen_range[0] < s.screen_range[1]):
        raise UserError(f"search.screen_range must be [low, high] with low < high, got "
                        f"{s.screen_range}")
    c = s.confirm
    if c.top < 0:
        raise UserError(f"search.confirm.top must be 0 or more, got {c.top}")
    if not c.seeds or len(set(c.seeds)) != len(c.seeds):
        raise UserError("search.confirm.seeds must list at least one seed, each once")
    if c.epochs is not None and c.epochs < 1:
        raise UserError(f"search.confirm.epochs must be at least 1, got {c.epochs}")
    if c.limit_train is not None and c.limit_train < 1:
        raise UserError(f"search.confirm.limit_train must be at least 1, got {c.limit_train}")
    if len(set(c.baselines)) != len(c.baselines):
        raise UserError("search.confirm.baselines lists an activation twice")
    for where, value in (("search.confirm.probes", c.probes),
                         ("search.confirm.probe_top", c.probe_top),
                         ("search.fidelity.retest_random", s.fidelity.retest_random),
                         ("search.fidelity.retest_top", s.fidelity.retest_top),
                         ("search.fidelity.probes", s.fidelity.probes)):
        if value < 0:
            raise UserError(f"{where} must be 0 or more, got {value}")


def transferred_sections(cfg: Config, model: dict[str, Any], data: dict[str, Any],
                         where: str) -> tuple[ModelConfig, DataConfig]:
    """The model and data sections of a rung or the confirm run: `cfg`'s with the keys of
    `model` and `data` replaced (named `<where>.model.<key>` in errors)."""
    if "activations" in model:
        raise UserError(f"{where}.model.activations: a search chooses the activations itself")
    sections = []
    for name, cls, changes in (("model", ModelConfig, model), ("data", DataConfig, data)):
        merged = {**dataclasses.asdict(getattr(cfg, name)), **changes}
        sections.append(_build(cls, merged, f"{where}.{name}."))
    return sections[0], sections[1]


def validate_transfer(cfg: Config) -> None:
    """Each rung's and the confirm run's model / data overrides name real keys of the right
    types; what needs the registries (an architecture's name) is checked by the search."""
    for k, rung in enumerate(cfg.search.rungs):
        transferred_sections(cfg, rung.model, rung.data, f"search.rungs[{k}]")
    c = cfg.search.confirm
    transferred_sections(cfg, c.model, c.data, "search.confirm")


# --- sweeps ----------------------------------------------------------------------------------

Point = tuple[tuple[str, Any], ...]  # one sweep point: ((dotted key, value), ...) in sweep order

# Already axes of every run (each trial is an activation and a seed).
_AXES = ("model.activations", "training.seeds")
# Not what a trial is: naming, where results go, how they are shown, ranked, measured or
# executed; data is loaded once per run, so it is one for all points.
_NOT_SWEPT = {"name": "names the run", "sweep": "is the sweep itself", "search": "drives "
              "actsearch search", "output": "says where results go", "plots": "only draws",
              "statistics": "tests every point alike",
              "objective": "ranks every point alike", "diagnostics": "measures every trial "
              "alike", "execution": "says how trials run, not what they are", "data": "is "
              "loaded once for every point", "pruning": "judges every point alike"}


def key_type(dotted: str) -> Any:
    """The type hint of a dotted config key (`model.depth` -> int | None)."""
    cls: Any = Config
    *sections, last = dotted.split(".")
    for part in sections:
        cls = typing.get_type_hints(cls)[part]
    return typing.get_type_hints(cls)[last]


def _point_text(point: Point) -> str:
    return ", ".join(f"{key}={value}" for key, value in point)


def validate_sweep(cfg: Config) -> None:
    """Every swept key is a known single-valued key of what a trial is, each value has that
    key's type and appears once, and every point is a valid config (ranges, combinations)."""
    if not cfg.sweep:
        return
    for key, values in list(cfg.sweep.items()):
        section = key.split(".")[0]
        if key in _AXES:
            raise UserError(f"sweep {key}: it is already an axis of every run; list its values "
                            f"in {key} itself")
        if section in _NOT_SWEPT:
            raise UserError(f"sweep {key}: cannot be swept ({section} {_NOT_SWEPT[section]})")
        if key not in known_keys():
            close = difflib.get_close_matches(key, known_keys(), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"sweep {key}: unknown config key{hint}")
        tp = key_type(key)
        if typing.get_origin(tp) is list:
            raise UserError(f"sweep {key}: a key that takes a list cannot be swept")
        if not isinstance(values, list) or not values:
            raise UserError(f"sweep {key} must be a non-empty list of values, got {values!r}")
        coerced = [_coerce(f"sweep {key}", value, tp) for value in values]
        if len({repr(v) for v in coerced}) != len(coerced):
            raise UserError(f"sweep {key} lists a value twice")
        cfg.sweep[key] = coerced
    for point in sweep_points(cfg):
        try:
            apply_point(cfg, point)
        except UserError as exc:
            raise UserError(f"sweep point {_point_text(point)}: {exc}") from None


def sweep_points(cfg: Config) -> list[Point]:
    """The cartesian product of the sweep's values, in the order written (the first key
    varies slowest); [()] without a sweep."""
    keys = list(cfg.sweep)
    return [tuple(zip(keys, values, strict=True))
            for values in itertools.product(*cfg.sweep.values())]


def apply_point(cfg: Config, point: Point) -> Config:
    """`cfg` with a sweep point's values set and no sweep: the config its trials run with.
    Without a point, `cfg` itself."""
    if not point:
        return cfg
    raw = cfg.to_dict()
    raw.pop("sweep", None)
    for key, value in point:
        set_dotted(raw, key, value)
    return config_from_dict(raw)
