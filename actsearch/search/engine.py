"""The batched candidate engine: K candidate activations trained as one compiled program.

`train_candidates` trains each candidate as `actsearch run` would train its expression (the
configured network, optimizer, loss, metrics and epochs; the batch order of
`actsearch.batches.epoch_order`), but K of them at a time: K copies of the network (one per
candidate, each with its own weights and its own Adam slots) in one tf.function that runs a
whole epoch, the sum of the K losses differentiated once per step. Adam and clipvalue act
element by element, so each copy takes the step it would take alone (as the fused executor).

A candidate's FUNCTION is data: a genome of the search space (actsearch/search/space.py: one
or two core units b(u1(z), u2(z))) becomes primitive indices and coefficients held in
non-trainable variables, read by tf.switch_case inside one small tf.function per unit count
(not inlined, so the K copies share its compiled body). Each branch of those switches is the
primitive's own expression tree evaluated by actsearch.expressions.evaluate_keras, so the
numbers are those of the candidate's ExpressionActivation. The next batch of genomes of the
same unit count only assigns new values (genome, initial weights, optimizer state reset):
nothing is rebuilt or retraced. Programs are cached in this module for the life of the
process, keyed by everything that shapes them (network, training settings, units) and K; a
batch smaller than K reuses a larger program, padded (program_for). Nothing here clears
TensorFlow's compiled functions (keras.backend.clear_session and tf.random.set_seed do: see
set_seed_keeping_programs), so a second search in the process compiles nothing new.

A learnable `beta` is one trainable scalar per activation layer, started at PARAM_INITIAL as
ExpressionActivation does; every copy has it, and a candidate without beta leaves it at its
start (its gradient is zero). Expressions that are not genomes of the space (a
`search.include`, or any tree with other shapes) are trained by the same loop with their
ExpressionActivation, traced once per call.

What a rung needs and nothing else: the validation pass each epoch, no test set, no files,
no diagnostics. Dropout masks are those of separate runs: each copy's dropout layers start
from the seed state a fresh model built with the seed has (restored with the weights, see
`_state`) and draw from their own generators, so a candidate gets the masks `actsearch run`
gives it (tests/test_search.py matches a CNN rung's history to `actsearch run`'s, and
tests/test_engine.py a reused program's to a fresh one's). K is a power of two, at most
MAX_K and what MEMORY_MB holds (batch_size_for; on a GPU, what half its memory holds, at
most MAX_K_GPU: unmeasured).

For the loop: pass space.Candidate objects where you have them (their genome is used as
it is; a bare tree is looked up among the one-unit genomes of the full space, and anything
else takes the traced path); check engine_unsupported(cfg) once and keep the current path
where it names a reason (train_candidates raises it as a UserError); keep calling in one
process, since the compiled programs stay cached here (about 8-10 CPU-s for the mlp's first at
K=8 on an AMD EPYC, 20-28 at K=32).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tensorflow.python.eager import context

from actsearch.activations import ActivationOptions, ActivationSpec
from actsearch.batches import epoch_order
from actsearch.config import Config
from actsearch.data import Dataset
from actsearch.errors import UserError
from actsearch.expressions import (
    PARAM_INITIAL,
    Binary,
    Const,
    Expr,
    ExpressionActivation,
    Param,
    Var,
    canonical,
    evaluate_keras,
    normalize,
)
from actsearch.losses import get_loss
from actsearch.models import ActivationFactory, builder_settings, checked_model, get_builder
from actsearch.optimizer import make_optimizer
from actsearch.search.space import BETA, BINARY, CONSTANTS, UNARY, Candidate, CoreUnit, UnaryChoice
from actsearch.training import set_precision

# copies per program at most on a CPU: 8, since more copies cost no less per candidate
# and the compile grows with K (the mlp's search of 256 candidates: 35 CPU-s at K=8, 47 at 32;
# benchmarks/README.md, "A search that starts in seconds")
MAX_K = int(os.environ.get("ACTSEARCH_ENGINE_MAX_K", "8"))
MEMORY_MB = float(os.environ.get("ACTSEARCH_ENGINE_MEMORY_MB", "2048"))  # budget per program
# On a GPU (unmeasured: no GPU was at hand): up to MAX_K_GPU copies, as many as
# GPU_MEMORY_SHARE of the device's memory holds, unless ACTSEARCH_ENGINE_MEMORY_MB is set
MAX_K_GPU = int(os.environ.get("ACTSEARCH_ENGINE_MAX_K_GPU", "128"))
GPU_MEMORY_SHARE = 0.5
# Grappler (TensorFlow's graph optimizer) for the engine's programs: on by default. Off
# (ACTSEARCH_ENGINE_GRAPPLER=0) it saves a third of the mlp's compile at K=32, but nothing
# measurable at K=8, and the article's CNN ran 6% slower without it (benchmarks/README.md).
GRAPPLER = os.environ.get("ACTSEARCH_ENGINE_GRAPPLER", "1").strip().lower() not in (
    "0", "off", "false", "no")

# The space's primitives, plus min/max with their operands the other way round: normalize()
# sorts the operands of min and max, and where they tie, the gradient goes to the first one,
# so the genome takes the order the candidate's expression has.
_SWAPPED_UNARY = {"min0": lambda z, c: Binary("min", Const(0.0), z)}
_SWAPPED_BINARY = {"max": lambda a, b: Binary("max", b, a),
                   "min": lambda a, b: Binary("min", b, a)}
_UNARY_TREES = {**{n: f for n, (f, _) in UNARY.items()},
                **{f"{n}~": f for n, f in _SWAPPED_UNARY.items()}}
_BINARY_TREES = {**BINARY, **{f"{n}~": f for n, f in _SWAPPED_BINARY.items()}}
_UNARY_NAMES = tuple(_UNARY_TREES)
_BINARY_NAMES = tuple(_BINARY_TREES)


@dataclass
class CandidateRun:
    history: pd.DataFrame  # one row per epoch: epoch (from 1), loss, <metrics>, val_loss,
    #                        val_<metrics>, learning_rate, as `actsearch run`'s histories/*.csv
    status: str  # "ok", "diverged" (non-finite loss: stopped there) or "failed"
    diverged_epoch: int | None = None
    error: str | None = None  # one line, for "failed"


# --- what the engine can train ------------------------------------------------------------------

def engine_unsupported(cfg: Config) -> str | None:
    """Why the batched engine cannot train this config (one line, for the log), or None."""
    t, e = cfg.training, cfg.execution
    reasons = [
        (t.shuffle == "once", "training.shuffle: once takes Keras' own batch order"),
        (t.optimizer.global_clipnorm is not None,
         "training.optimizer.global_clipnorm clips over every candidate's weights together"),
        (t.early_stopping_patience is not None, "training.early_stopping_patience stops trials "
                                                "one by one"),
        (e.mixed_precision, "execution.mixed_precision shares one loss scale"),
        (e.jit_compile, "execution.jit_compile (XLA) is not what the engine compiles"),
        (cfg.pruning.enabled, "pruning.enabled stops trials one by one"),
    ]
    for applies, why in reasons:
        if applies:
            return f"the batched engine cannot train this config: {why}"
    for name in t.metrics:
        if _metric_fn(name) is None:
            return (f"the batched engine cannot train this config: metric {name} is not a "
                    f"per-sample mean")
    return None


def _metric_fn(name: str) -> Callable | None:
    """The per-sample function Keras averages for a metric name (None if it is not one, or
    if compile would pick it by the loss, as it does for accuracy)."""
    if name in ("accuracy", "acc"):
        return None
    try:
        metric = keras.metrics.get(name)
    except (ValueError, TypeError):
        return None
    if isinstance(metric, type):
        metric = metric()
    fn = getattr(metric, "_fn", None)
    if isinstance(metric, keras.metrics.MeanMetricWrapper) and fn is not None:
        return functools.partial(fn, **getattr(metric, "_fn_kwargs", {}))
    if callable(metric) and not isinstance(metric, keras.metrics.Metric):
        return metric
    return None


# --- genomes as data ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Genome:
    """A candidate as numbers: per unit (binary, left unary, right unary) indices, and per
    unary slot its coefficient value and whether that coefficient is the learnable beta."""

    ops: tuple[int, ...]  # 3 per unit
    values: tuple[float, ...]  # 2 per unit
    betas: tuple[float, ...]  # 2 per unit, 1.0 where the coefficient is beta

    @property
    def units(self) -> int:
        return len(self.ops) // 3


def genome_of(candidate: Candidate) -> Genome | None:
    """The candidate's genome as numbers, or None if a primitive or coefficient is unknown."""
    ops, values, betas = [], [], []
    z: Expr = Var()
    for unit in candidate.units:
        if unit.binary not in BINARY:
            return None
        sides = []
        for choice in (unit.left, unit.right):
            c = choice.coefficient
            if choice.name not in UNARY or not (c is None or c == BETA
                                                or isinstance(c, int | float)):
                return None
            tree = UNARY[choice.name][0](z, c)
            sides.append(tree)
            ops.append(_UNARY_NAMES.index(_named(choice.name, tree, _SWAPPED_UNARY)))
            values.append(PARAM_INITIAL if c == BETA else float(c or 0.0))
            betas.append(1.0 if c == BETA else 0.0)
        z = BINARY[unit.binary](*sides)
        ops.insert(len(ops) - 2, _BINARY_NAMES.index(_named(unit.binary, z, _SWAPPED_BINARY)))
    return Genome(tuple(ops), tuple(values), tuple(betas))


def _named(name: str, tree: Expr, swapped: dict) -> str:
    """`name`, or `name~` if normalize() puts the operands of this min/max the other way."""
    if name not in swapped or not isinstance(tree, Binary):
        return name
    normal = normalize(tree)
    first = canonical(normalize(tree.a))
    return f"{name}~" if canonical(normal.a) != first else name


@functools.cache
def _one_unit_genomes() -> dict[str, Candidate]:
    """Canonical text -> a one-unit candidate of the full space with that expression, so a
    tree handed over without its genome can still be trained as data."""
    choices = []
    for name, (_, takes) in UNARY.items():
        coefficients = (*CONSTANTS, BETA) if takes else (None,)
        choices += [UnaryChoice(name, c) for c in coefficients]
    table: dict[str, Candidate] = {}
    for binary in BINARY:
        for left in choices:
            for right in choices:
                candidate = Candidate((CoreUnit(binary, left, right),))
                table.setdefault(candidate.text, candidate)
    return table


def as_candidate(item: Expr | Candidate) -> Candidate | None:
    """A search candidate (its genome) for a tree or candidate, None if it is not one."""
    if isinstance(item, Candidate):
        return item
    return _one_unit_genomes().get(canonical(normalize(item)))


def _unary_branch(name: str, z, c):
    tree = _UNARY_TREES[name](Var(), "c")  # the primitive's tree, its coefficient a parameter
    out = evaluate_keras(tree, z, {"c": c})
    if isinstance(tree, Param):  # `const`: the coefficient itself, as wide as z
        out = out + tf.zeros_like(z)
    return tf.ensure_shape(out, z.shape)


def _binary_branch(name: str, a, b):
    tree = _BINARY_TREES[name](Param("a"), Param("b"))
    return tf.ensure_shape(evaluate_keras(tree, a, {"a": a, "b": b}), a.shape)


def _units(x, ops, values, betas, beta):
    """The genome's function of x: ops/values/betas as Genome holds them, beta the layer's."""
    z = x
    coefficients = tf.where(betas > 0, tf.cast(beta, values.dtype), values)
    for u in range(ops.shape[0] // 3):
        sides = []
        for side in (1, 2):
            c = coefficients[2 * u + side - 1]
            branches = [functools.partial(_unary_branch, name, z, c) for name in _UNARY_NAMES]
            sides.append(tf.switch_case(ops[3 * u + side], branches))
        a, b = sides
        z = tf.switch_case(ops[3 * u], [functools.partial(_binary_branch, name, a, b)
                                        for name in _BINARY_NAMES])
    return z


# one compiled body shared by every copy (not inlined into the K-copy program)
_genome_function = tf.function(_units, experimental_attributes={"_noinline": True},
                               autograph=False)


class GenomeActivation(keras.layers.Layer):
    """A search genome as an activation layer: its function read from variables the engine
    assigns (`genome`, shared by one candidate's layers), and one trainable beta."""

    def __init__(self, genome: tuple[tf.Variable, tf.Variable, tf.Variable], **kwargs):
        super().__init__(**kwargs)
        self.genome = genome
        self.beta = None

    def build(self, input_shape):
        self.beta = self.add_weight(name=BETA, shape=(), trainable=True,
                                    initializer=keras.initializers.Constant(PARAM_INITIAL))

    def call(self, inputs):
        ops, values, betas = self.genome
        return _genome_function(inputs, ops, values, betas, self.beta.value)

    def compute_output_shape(self, input_shape):
        return input_shape


# --- the K-copy program -------------------------------------------------------------------------

TRACES = {"epoch": 0, "validate": 0}  # times the programs' Python bodies ran (tests read it)


class Program:
    """K copies of the configured network, an optimizer over all of them and the compiled
    epoch and validation passes. `activations[k](layer_name)` makes copy k's layers."""

    def __init__(self, cfg: Config, data: Dataset, factories: list[ActivationFactory],
                 seed: int):
        started = time.process_time()
        set_precision(cfg)
        self.cfg = cfg
        self.k = len(factories)
        self.models = []
        for act in factories:  # each at the initial weights `actsearch run` draws
            set_seed_keeping_programs(seed)
            self.models.append(self._build(cfg, data, act))
        t = cfg.training
        steps = math.ceil(len(data.x_train) / t.batch_size)
        self.optimizer = make_optimizer(t.optimizer, steps, t.epochs)
        self.trainable = [w for m in self.models for w in m.trainable_weights]
        self.optimizer.build(self.trainable)
        self.optimizer_start = [v.numpy() for v in self.optimizer.variables]
        self.loss = get_loss(t.loss)
        self.metrics = [_metric_fn(name) for name in t.metrics]
        self.batch_size = t.batch_size
        self._initial = {seed: _state(self.models[0])}
        shape, classes = tuple(data.input_shape), data.num_classes
        images = tf.TensorSpec([None, *shape], tf.float32)
        labels = tf.TensorSpec([None, classes], tf.float32)
        self.train_epoch = tf.function(self._train_epoch, input_signature=[
            images, labels, tf.TensorSpec([None], tf.int64)])
        self.validate = tf.function(self._validate, input_signature=[images, labels])
        # CPU seconds (the process's) of building, tracing and instantiating this program (its
        # first epoch included), and of one copy's pass over one image once it is compiled:
        # what programs_for weighs when a smaller batch could reuse a larger program
        self.compile_cpu = time.process_time() - started
        self.compiled = False
        self.cpu_per_copy_image: float | None = None

    @staticmethod
    def _build(cfg: Config, data: Dataset, act: ActivationFactory) -> keras.Model:
        m = cfg.model
        build = get_builder(m.architecture)
        settings = builder_settings(build, m.depth, m.width, m.architecture)
        model = build(act, tuple(data.input_shape), int(data.num_classes), **settings)
        return checked_model(model, m.architecture, tuple(data.input_shape),
                             int(data.num_classes))

    def reset(self, seed: int, fresh: Callable[[], keras.Model]) -> None:
        """Every copy at the initial weights and dropout seed state `actsearch run` draws for
        this seed, the optimizer at its start."""
        if seed not in self._initial:
            set_seed_keeping_programs(seed)
            self._initial[seed] = _state(fresh())
        for model in self.models:
            for variable, start in zip(model.variables, self._initial[seed], strict=True):
                variable.assign(start)
        for variable, start in zip(self.optimizer.variables, self.optimizer_start, strict=True):
            variable.assign(start)

    def _losses_and_metrics(self, x, y, training: bool):
        losses, metrics = [], []
        for model in self.models:
            pred = model(x, training=training)
            values = self.loss(y, pred)
            loss = tf.reduce_sum(values) / tf.cast(tf.size(values), values.dtype)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
            losses.append(loss)
            metrics.append([_samplewise_sum(fn(y, pred)) for fn in self.metrics])
        return losses, metrics

    def _train_epoch(self, x, y, order):
        TRACES["epoch"] += 1
        n = tf.shape(order)[0]
        bs = self.batch_size
        steps = (n + bs - 1) // bs
        m = len(self.metrics)
        loss_sum = tf.zeros([self.k])
        metric_sum = tf.zeros([self.k, m])
        for step in tf.range(steps):
            idx = order[step * bs:(step + 1) * bs]
            xb, yb = tf.gather(x, idx), tf.gather(y, idx)
            size = tf.cast(tf.shape(idx)[0], tf.float32)
            with tf.GradientTape() as tape:
                losses, metrics = self._losses_and_metrics(xb, yb, training=True)
                total = tf.add_n(losses)
            grads = tape.gradient(total, self.trainable)
            self.optimizer.apply(grads, self.trainable)
            loss_sum, metric_sum = _accumulated(loss_sum, metric_sum, losses, metrics, size)
        return loss_sum, metric_sum

    def _validate(self, x, y):
        TRACES["validate"] += 1
        n = tf.shape(x)[0]
        bs = self.batch_size
        steps = (n + bs - 1) // bs
        m = len(self.metrics)
        loss_sum = tf.zeros([self.k])
        metric_sum = tf.zeros([self.k, m])
        for step in tf.range(steps):
            xb, yb = x[step * bs:(step + 1) * bs], y[step * bs:(step + 1) * bs]
            size = tf.cast(tf.shape(xb)[0], tf.float32)
            losses, metrics = self._losses_and_metrics(xb, yb, training=False)
            loss_sum, metric_sum = _accumulated(loss_sum, metric_sum, losses, metrics, size)
        return loss_sum, metric_sum

    def fit(self, data: Dataset, seed: int, epochs: int) -> list[CandidateRun]:
        """Train the K copies from where reset() put them; one CandidateRun per copy."""
        names = list(self.cfg.training.metrics)
        x_train = tf.constant(data.x_train, tf.float32)
        y_train = tf.constant(data.y_train, tf.float32)
        x_val = tf.constant(data.x_val, tf.float32)
        y_val = tf.constant(data.y_val, tf.float32)
        n, n_val = len(data.x_train), len(data.x_val)
        rows: list[list[dict]] = [[] for _ in range(self.k)]
        diverged: list[int | None] = [None] * self.k
        shuffle = self.cfg.training.shuffle
        for epoch in range(epochs):
            started, cpu = time.perf_counter(), time.process_time()
            order = epoch_order(seed, epoch, n) if shuffle == "epoch" else np.arange(n)
            with _without_grappler():
                loss, metric = (a.numpy() for a in self.train_epoch(
                    x_train, y_train, tf.constant(order, tf.int64)))
                val_loss, val_metric = (a.numpy() for a in self.validate(x_val, y_val))
            lr = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            if self.compiled:
                self.cpu_per_copy_image = cpu / (self.k * (n + n_val))
            else:
                self.compile_cpu += cpu
                self.compiled = True
            for k in range(self.k):
                if diverged[k] is not None:
                    continue
                row = {"epoch": epoch + 1, "loss": float(loss[k] / n)}
                row |= {name: float(metric[k, i] / n) for i, name in enumerate(names)}
                row["val_loss"] = float(val_loss[k] / n_val)
                row |= {f"val_{name}": float(val_metric[k, i] / n_val)
                        for i, name in enumerate(names)}
                row |= {"learning_rate": lr, "seconds": seconds}
                rows[k].append(row)
                if not math.isfinite(row["loss"]):
                    diverged[k] = epoch + 1
            if all(d is not None for d in diverged):
                break
        return [CandidateRun(pd.DataFrame(r), "ok" if d is None else "diverged", d)
                for r, d in zip(rows, diverged, strict=True)]


def set_seed_keeping_programs(seed: int) -> None:
    """keras.utils.set_random_seed(seed) (Python, NumPy, TensorFlow and Keras' seeds), less
    the clearing of TensorFlow's compiled-function cache that tf.random.set_seed does (so
    random ops restart their streams): that clearing makes every cached program compile
    again on its next call, about as costly as building it. The engine's programs read no
    TensorFlow-seeded random op (Keras draws from its own seed generators)."""
    clear = context.pywrap_tfe.TFE_ContextClearCaches
    context.pywrap_tfe.TFE_ContextClearCaches = lambda handle: None
    try:
        keras.utils.set_random_seed(int(seed))
    finally:
        context.pywrap_tfe.TFE_ContextClearCaches = clear


@contextlib.contextmanager
def _without_grappler():
    """Grappler off (unless GRAPPLER) around every call of a program, as it was for
    everything else afterwards. Every call, not just the first: the setting is part of the
    key of TensorFlow's compiled-function cache, so a call with it back on would compile
    the program again."""
    if GRAPPLER:
        yield
        return
    before = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options(
            {"disable_meta_optimizer": before.get("disable_meta_optimizer", False)})


def _state(model: keras.Model) -> list[np.ndarray]:
    """Every variable of a model: its weights and its dropout layers' seed states, which
    get_weights() leaves out (a reused program would go on with the last run's dropout
    masks)."""
    return [v.numpy() for v in model.variables]


def _samplewise_sum(values) -> tf.Tensor:
    """A metric's per-sample values summed, as Keras' Mean counts them (trailing axes first
    averaged: binary_accuracy gives one value per class)."""
    values = tf.cast(values, tf.float32)
    if values.shape.rank and values.shape.rank > 1:
        values = tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))
    return tf.reduce_sum(values)


def _factory(make_layer: Callable[[ActivationOptions, str], keras.layers.Layer],
             cfg: Config) -> ActivationFactory:
    spec = ActivationSpec("candidate", "a search candidate", make_layer)  # an expression's
    return ActivationFactory(spec, ActivationOptions(cfg.model.leaky_relu_slope))  # defaults


def _genome_variables(units: int) -> tuple[tf.Variable, tf.Variable, tf.Variable]:
    return (tf.Variable(tf.zeros([3 * units], tf.int32), trainable=False),
            tf.Variable(tf.zeros([2 * units]), trainable=False),
            tf.Variable(tf.zeros([2 * units]), trainable=False))


class GenomeProgram(Program):
    """A Program whose K copies take their functions from assignable genomes."""

    def __init__(self, cfg: Config, data: Dataset, k: int, units: int, seed: int):
        self.cfg = cfg
        self.units = units
        self.genomes = [_genome_variables(units) for _ in range(k)]
        super().__init__(cfg, data, [self._act(g) for g in self.genomes], seed)

    def _act(self, genome) -> ActivationFactory:
        return _factory(lambda options, name: GenomeActivation(genome, name=name), self.cfg)

    def load(self, genomes: Sequence[Genome], seed: int, data: Dataset) -> None:
        """New candidates (fewer than K: the last is repeated), at their initial state."""
        for k, variables in enumerate(self.genomes):
            genome = genomes[min(k, len(genomes) - 1)]
            for variable, value in zip(variables, (genome.ops, genome.values, genome.betas),
                                       strict=True):
                variable.assign(value)
        self.reset(seed, lambda: self._build(self.cfg, data,
                                             self._act(_genome_variables(self.units))))



def _accumulated(loss_sum, metric_sum, losses, metrics, size):
    """The epoch's running sums after one batch of `size` samples: each copy's mean loss
    weighted by the batch size, and its metrics' per-sample sums (one row per copy)."""
    loss_sum += tf.stack(losses) * size
    if metrics and metrics[0]:
        metric_sum += tf.stack([tf.stack(row) for row in metrics])
    return loss_sum, metric_sum

_PROGRAMS: dict[tuple, dict[int, GenomeProgram]] = {}  # program key -> K -> program
_PADDED: dict[tuple, float] = {}  # (program key, K) -> CPU-s spent on spare copies so far


def _network(cfg: Config) -> str:
    """The model section without its activations: the search sets those to each batch's
    candidates, which a program holds as data, so they must not make a new program."""
    return repr(dataclasses.replace(cfg.model, activations=[]))


def _program_key(cfg: Config, data: Dataset, units: int) -> tuple:
    """Everything that shapes a program but K. Not the epochs or the number of images (a
    rung's budget), unless an optimizer schedule counts its steps by them."""
    t = cfg.training
    schedule_steps = (math.ceil(len(data.x_train) / t.batch_size), t.epochs) \
        if t.optimizer.schedule is not None else None
    return (_network(cfg), t.loss, tuple(t.metrics), repr(t.optimizer), schedule_steps,
            t.batch_size, tuple(data.input_shape), data.num_classes, units,
            cfg.execution.mixed_precision)


def program_for(cfg: Config, data: Dataset, wanted: int, units: int, seed: int,
                log: Callable[[str], None] = print) -> GenomeProgram:
    """The program that trains `wanted` candidates (at most K) of this many units: K copies
    from batch_size_for if that program is compiled; otherwise a compiled one with more
    copies, its spare copies repeating a candidate (a last batch smaller than K, a later
    rung's few promoted candidates), until what the spare copies have cost adds up to what
    compiling the smaller program would cost (estimated from the larger one's own compile,
    in proportion to K), then the smaller one is compiled. So a search compiles each program
    at most once, and padding never costs more than the compiles it saves."""
    base = _program_key(cfg, data, units)
    programs = _PROGRAMS.setdefault(base, {})
    k = batch_size_for(cfg, data, wanted)
    larger = sorted(size for size in programs if size >= wanted)
    if k not in programs and larger:
        program = programs[larger[0]]
        waste = 0.0
        if program.cpu_per_copy_image is not None:
            images = len(data.x_train) + len(data.x_val)
            waste = (program.k - wanted) * program.cpu_per_copy_image * images \
                * cfg.training.epochs
        padded = _PADDED.get((base, k), 0.0) + waste
        if padded <= program.compile_cpu * k / program.k:
            _PADDED[(base, k)] = padded
            return program
    if k not in programs:
        log(f"engine: compiling a program for {k} candidates of {units} unit"
            f"{'s' * (units > 1)} (once per process)")
        programs[k] = GenomeProgram(cfg, data, k, units, seed)
    return programs[k]


def programs_compiled() -> int:
    """How many K-copy programs this process has built (tests count them)."""
    return sum(len(programs) for programs in _PROGRAMS.values())


@functools.cache
def gpu_memory_mb() -> float | None:
    """The memory TensorFlow may use on the first GPU (its allocator's limit), None on a
    machine without one."""
    if not tf.config.list_physical_devices("GPU"):
        return None
    from tensorflow.python.client import device_lib  # the only API that reports the limit

    limits = [d.memory_limit for d in device_lib.list_local_devices()
              if d.device_type == "GPU" and d.memory_limit]
    return limits[0] / 2**20 if limits else None


def memory_budget_mb(device_mb: float | None) -> float:
    """What one program may hold: ACTSEARCH_ENGINE_MEMORY_MB if set; on a GPU (device_mb, its
    memory) GPU_MEMORY_SHARE of it; otherwise MEMORY_MB."""
    if "ACTSEARCH_ENGINE_MEMORY_MB" in os.environ or device_mb is None:
        return MEMORY_MB
    return GPU_MEMORY_SHARE * device_mb


def batch_size_for(cfg: Config, data: Dataset, wanted: int) -> int:
    """K: the smallest power of two holding `wanted` (so a short batch reuses a program, its
    spare copies repeating a candidate, instead of compiling one of its own), at most MAX_K
    (MAX_K_GPU on a GPU) and as many copies as memory_budget_mb holds by an estimate of one
    copy (weights, gradients, two Adam slots and the initial copy: 5 x 4 bytes per parameter;
    three float32 copies of every layer's output for a batch)."""
    key = (_network(cfg), cfg.training.batch_size, tuple(data.input_shape), data.num_classes)
    if key not in _FITS:
        act = _factory(lambda options, name: keras.layers.Activation("linear", name=name), cfg)
        probe = Program._build(cfg, data, act)
        params = probe.count_params()
        outputs = sum(int(np.prod(layer.output.shape[1:])) for layer in probe.layers
                      if hasattr(layer, "output"))
        per_copy = 20 * params + 12 * outputs * cfg.training.batch_size
        _FITS[key] = max(1, int(memory_budget_mb(gpu_memory_mb()) * 2**20 // per_copy))
    k = 1 << max(0, wanted - 1).bit_length()
    return max(1, min(MAX_K if gpu_memory_mb() is None else MAX_K_GPU, k, _FITS[key]))


_FITS: dict[tuple, int] = {}  # copies that fit memory_budget_mb, per network and batch size


# --- the entry point ----------------------------------------------------------------------------

def train_candidates(trees: list[Expr | Candidate], cfg: Config, data: Dataset, seed: int,
                     log: Callable[[str], None] = print) -> list[CandidateRun]:
    """Each candidate expression (an actsearch.expressions tree, or a space.Candidate, whose
    genome is then used directly) trained as `actsearch run` would train it with `cfg` (its
    model, training, epochs; `data` already limited) and this seed, K at a time in one
    compiled program; one CandidateRun per tree, in order."""
    reason = engine_unsupported(cfg)
    if reason:
        raise UserError(reason)
    runs: list[CandidateRun | None] = [None] * len(trees)
    by_units: dict[int, list[tuple[int, Genome]]] = {}
    direct: list[int] = []
    for i, item in enumerate(trees):
        candidate = as_candidate(item)
        genome = genome_of(candidate) if candidate is not None else None
        if genome is None:
            direct.append(i)
        else:
            by_units.setdefault(genome.units, []).append((i, genome))
    for units, members in by_units.items():
        k = batch_size_for(cfg, data, len(members))
        for start in range(0, len(members), k):
            chunk = members[start:start + k]
            _run_guarded([i for i, _ in chunk], runs, trees, cfg, data, seed, log,
                         lambda chunk=chunk, units=units: _genome_runs(
                             [g for _, g in chunk], cfg, data, seed, units, log))
    if direct:
        k = batch_size_for(cfg, data, len(direct))
        for start in range(0, len(direct), k):
            chunk = direct[start:start + k]
            _run_guarded(chunk, runs, trees, cfg, data, seed, log,
                         lambda chunk=chunk: _direct_runs([trees[i] for i in chunk], cfg,
                                                          data, seed))
    return runs  # type: ignore[return-value]


def _genome_runs(genomes: list[Genome], cfg: Config, data: Dataset, seed: int,
                 units: int, log: Callable[[str], None]) -> list[CandidateRun]:
    program = program_for(cfg, data, len(genomes), units, seed, log)
    program.load(genomes, seed, data)
    return program.fit(data, seed, cfg.training.epochs)[:len(genomes)]


def _direct_runs(trees: list[Expr | Candidate], cfg: Config, data: Dataset, seed: int
                 ) -> list[CandidateRun]:
    texts = [canonical(t.tree if isinstance(t, Candidate) else t) for t in trees]
    factories = [_factory(lambda options, name, text=text: ExpressionActivation(text, name=name),
                          cfg) for text in texts]
    return Program(cfg, data, factories, seed).fit(data, seed, cfg.training.epochs)


def _run_guarded(indices: list[int], runs: list, trees: list, cfg: Config, data: Dataset,
                 seed: int, log: Callable[[str], None],
                 train: Callable[[], list[CandidateRun]]) -> None:
    """Train a chunk; if the program fails, each of its candidates alone, so only the ones
    that fail by themselves are marked failed."""
    try:
        for i, run in zip(indices, train(), strict=True):
            runs[i] = run
        return
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - one line in the log, then one by one
        if len(indices) == 1:
            runs[indices[0]] = CandidateRun(pd.DataFrame(), "failed", None, _one_line(exc))
            return
        log(f"engine: a batch of {len(indices)} failed ({_one_line(exc)}); "
            f"training them one by one")
    for i in indices:
        try:
            runs[i] = _direct_runs([trees[i]], cfg, data, seed)[0]
        except (UserError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the candidate's own failure
            runs[i] = CandidateRun(pd.DataFrame(), "failed", None, _one_line(exc))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
