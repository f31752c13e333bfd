"""The space `actsearch search` explores: candidate genomes, sampling and mutation.

A candidate is one or two core units b(u1(z), u2(z)) as in Ramachandran, Zoph & Le (2017):
u1, u2 unary primitives, b a binary one; the first unit takes z = x, the second takes the
first unit's output. Candidates are kept as this small genome (so mutations act on units, not
on arbitrary subtrees) and turned into an `actsearch.expressions` tree for evaluation,
canonical text and fingerprints.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from actsearch.errors import UserError
from actsearch.expressions import (
    Binary,
    Const,
    Expr,
    Param,
    Unary,
    Var,
    canonical,
    fingerprint,
    normalize,
    uses_x,
)

CONSTANTS = (0.5, 1.0, 1.5, 2.0)  # the coefficients a unit may draw when constants are on
BETA = "beta"

Coefficient = float | str | None  # a number, BETA, or None for primitives without one


def _c(value: Coefficient) -> Expr:
    return Param(value) if isinstance(value, str) else Const(float(value))


# name -> (tree builder from (argument, coefficient), whether it takes a coefficient)
UNARY: dict[str, tuple[Callable[[Expr, Coefficient], Expr], bool]] = {
    "x": (lambda a, c: a, False),
    "neg": (lambda a, c: Unary("neg", a), False),
    "abs": (lambda a, c: Unary("abs", a), False),
    "square": (lambda a, c: Binary("**", a, Const(2.0)), False),
    "cube": (lambda a, c: Binary("**", a, Const(3.0)), False),
    "sqrt": (lambda a, c: Unary("sqrt", a), False),
    "log": (lambda a, c: Unary("log", a), False),
    "exp": (lambda a, c: Unary("exp", a), False),
    "sin": (lambda a, c: Unary("sin", a), False),
    "cos": (lambda a, c: Unary("cos", a), False),
    "sinh": (lambda a, c: Unary("sinh", a), False),
    "cosh": (lambda a, c: Unary("cosh", a), False),
    "tanh": (lambda a, c: Unary("tanh", a), False),
    "asinh": (lambda a, c: Unary("asinh", a), False),
    "atan": (lambda a, c: Unary("atan", a), False),
    "sinc": (lambda a, c: Unary("sinc", a), False),
    "relu": (lambda a, c: Unary("relu", a), False),  # max(z, 0)
    "min0": (lambda a, c: Binary("min", a, Const(0.0)), False),  # min(z, 0)
    "sigmoid": (lambda a, c: Unary("sigmoid", a), False),
    "softplus": (lambda a, c: Unary("softplus", a), False),
    "gauss": (lambda a, c: Unary("gauss", a), False),  # exp(-z^2)
    "erf": (lambda a, c: Unary("erf", a), False),
    "scale": (lambda a, c: Binary("*", _c(c), a), True),  # c * z (beta * z with beta)
    "shift": (lambda a, c: Binary("+", a, _c(c)), True),  # z + c
    "const": (lambda a, c: _c(c), True),  # c, ignoring z
}

BINARY: dict[str, Callable[[Expr, Expr], Expr]] = {
    "add": lambda a, b: Binary("+", a, b),
    "sub": lambda a, b: Binary("-", a, b),
    "mul": lambda a, b: Binary("*", a, b),
    "div": lambda a, b: Binary("/", a, b),  # safe division, see actsearch.expressions
    "max": lambda a, b: Binary("max", a, b),
    "min": lambda a, b: Binary("min", a, b),
    "sigmoid_mul": lambda a, b: Binary("*", Unary("sigmoid", a), b),  # sigmoid(z1) * z2
    "gauss_diff": lambda a, b: Unary("gauss", Binary("-", a, b)),  # exp(-(z1 - z2)^2)
}
BINARY_ALIASES = {"+": "add", "-": "sub", "*": "mul", "/": "div"}

DEFAULT_UNARY = tuple(UNARY)
DEFAULT_BINARY = tuple(BINARY)


def _names(kind: str, given, known: Mapping, aliases: Mapping[str, str]) -> tuple[str, ...]:
    if not isinstance(given, (list, tuple)) or not all(isinstance(n, str) for n in given):
        raise UserError(f"search space: {kind} must be a list of primitive names")
    names = tuple(dict.fromkeys(aliases.get(name, name) for name in given))
    if not names:
        raise UserError(f"search space: {kind} primitives must not be empty")
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"search space: unknown {kind} primitive {name!r}{hint}; "
                            f"valid: {', '.join(known)}")
    return names


@dataclass(frozen=True)
class SearchSpace:
    """Which primitives a candidate may use, how many core units it has (1 or 2), and whether
    coefficients may be constants from CONSTANTS and/or a learnable `beta`. With two units,
    `second_unary`/`second_binary` (None: the first unit's) may draw the second unit from a
    smaller set: sizes between one unit (about 6,000 functions) and two full units (up to
    about 10^8); see `space_size` and benchmarks/search_space_sizes.py."""

    unary: tuple[str, ...] = DEFAULT_UNARY
    binary: tuple[str, ...] = DEFAULT_BINARY
    units: int = 1
    constants: bool = True
    beta: bool = True
    second_unary: tuple[str, ...] | None = None
    second_binary: tuple[str, ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "unary", _names("unary", self.unary, UNARY, {}))
        object.__setattr__(self, "binary",
                           _names("binary", self.binary, BINARY, BINARY_ALIASES))
        if isinstance(self.units, bool) or not isinstance(self.units, int) \
                or self.units not in (1, 2):
            raise UserError(f"search space: units must be 1 or 2, got {self.units!r}")
        for key, known, aliases in (("second_unary", UNARY, {}),
                                    ("second_binary", BINARY, BINARY_ALIASES)):
            given = getattr(self, key)
            if given is None:
                continue
            if self.units != 2:
                raise UserError(f"search space: {key} needs units: 2")
            object.__setattr__(self, key, _names(key.replace("_", " "), given, known, aliases))
        for flag in ("constants", "beta"):
            if not isinstance(getattr(self, flag), bool):
                raise UserError(f"search space: {flag} must be true or false")
        needing = [name for i in range(self.units) for name in self.unary_for(i)
                   if UNARY[name][1]]
        if needing and not self.coefficients:
            raise UserError(f"search space: unary {', '.join(dict.fromkeys(needing))} need a "
                            "coefficient; allow constants or beta")

    def unary_for(self, unit: int) -> tuple[str, ...]:
        """The unary primitives unit `unit` (0 or 1) may draw."""
        return self.second_unary if unit == 1 and self.second_unary else self.unary

    def binary_for(self, unit: int) -> tuple[str, ...]:
        return self.second_binary if unit == 1 and self.second_binary else self.binary

    @property
    def coefficients(self) -> tuple[Coefficient, ...]:
        return (CONSTANTS if self.constants else ()) + ((BETA,) if self.beta else ())

    @classmethod
    def from_mapping(cls, values: Mapping) -> SearchSpace:
        """From a config section; unknown keys are a UserError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"search space: unknown setting {unknown[0]!r}; "
                            f"valid: {', '.join(sorted(known))}")
        return cls(**values)


# --- candidates --------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnaryChoice:
    name: str
    coefficient: Coefficient = None


@dataclass(frozen=True)
class CoreUnit:
    """b(u1(z), u2(z))."""

    binary: str
    left: UnaryChoice
    right: UnaryChoice

    def build(self, z: Expr) -> Expr:
        return BINARY[self.binary](_unary_tree(self.left, z), _unary_tree(self.right, z))


def _unary_tree(choice: UnaryChoice, z: Expr) -> Expr:
    return UNARY[choice.name][0](z, choice.coefficient)


@dataclass(frozen=True)
class Candidate:
    """A genome of core units; `tree` is its expression, `text` its canonical text."""

    units: tuple[CoreUnit, ...]
    tree: Expr = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        z: Expr = Var()
        for unit in self.units:
            z = unit.build(z)
        object.__setattr__(self, "tree", normalize(z))

    @property
    def text(self) -> str:
        return canonical(self.tree)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.tree)

    def to_dict(self) -> dict:
        return {"units": [asdict(unit) for unit in self.units]}

    @classmethod
    def from_dict(cls, data: Mapping) -> Candidate:
        try:
            units = tuple(CoreUnit(u["binary"], UnaryChoice(**u["left"]),
                                   UnaryChoice(**u["right"])) for u in data["units"])
        except (KeyError, TypeError) as exc:
            raise UserError(f"malformed search candidate {data!r}: {exc}") from None
        return cls(units)


def in_space(candidate: Candidate, space: SearchSpace) -> bool:
    """Whether every primitive and coefficient of the candidate is allowed by the space and
    the candidate uses x."""
    if len(candidate.units) != space.units:
        return False
    for i, unit in enumerate(candidate.units):
        if unit.binary not in space.binary_for(i):
            return False
        for choice in (unit.left, unit.right):
            if choice.name not in space.unary_for(i):
                return False
            takes = UNARY[choice.name][1]
            if takes != (choice.coefficient is not None):
                return False
            if takes and choice.coefficient not in space.coefficients:
                return False
    return uses_x(candidate.tree)


def _unary_choice(space: SearchSpace, rng: np.random.Generator,
                  name: str | None = None, unit: int = 0) -> UnaryChoice:
    unary = space.unary_for(unit)
    name = name or unary[rng.integers(len(unary))]
    if not UNARY[name][1]:
        return UnaryChoice(name)
    coefficient = space.coefficients[rng.integers(len(space.coefficients))]
    return UnaryChoice(name, coefficient if isinstance(coefficient, str) else float(coefficient))


def _unit(space: SearchSpace, rng: np.random.Generator, i: int = 0) -> CoreUnit:
    binaries = space.binary_for(i)
    binary = binaries[rng.integers(len(binaries))]
    return CoreUnit(binary, _unary_choice(space, rng, unit=i), _unary_choice(space, rng, unit=i))


_MAX_TRIES = 200


def sample(space: SearchSpace, rng: np.random.Generator) -> Candidate:
    """A random candidate of the space that uses x."""
    for _ in range(_MAX_TRIES):
        candidate = Candidate(tuple(_unit(space, rng, i) for i in range(space.units)))
        if uses_x(candidate.tree):
            return candidate
    raise UserError("search space: no sampled candidate uses x; allow more unary primitives")


def _replace_unary(units: list[CoreUnit], i: int, space, rng) -> None:
    slot = "left" if rng.integers(2) == 0 else "right"
    units[i] = replace(units[i], **{slot: _unary_choice(space, rng, unit=i)})


def _replace_binary(units: list[CoreUnit], i: int, space, rng) -> None:
    binaries = space.binary_for(i)
    units[i] = replace(units[i], binary=binaries[rng.integers(len(binaries))])


def _swap_operands(units: list[CoreUnit], i: int, space, rng) -> None:
    units[i] = replace(units[i], left=units[i].right, right=units[i].left)


def _resample_unit(units: list[CoreUnit], i: int, space, rng) -> None:
    units[i] = _unit(space, rng, i)


def _change_coefficient(units: list[CoreUnit], i: int, space, rng) -> None:
    slots = [s for s in ("left", "right") if getattr(units[i], s).coefficient is not None]
    if slots:
        slot = slots[rng.integers(len(slots))]
        name = getattr(units[i], slot).name
        units[i] = replace(units[i], **{slot: _unary_choice(space, rng, name, unit=i)})


MUTATIONS = (_replace_unary, _replace_binary, _swap_operands, _resample_unit,
             _change_coefficient)


def mutate(candidate: Candidate, space: SearchSpace, rng: np.random.Generator) -> Candidate:
    """One random mutation (replace a unary, replace a binary, swap a unit's operands, resample
    a whole unit, change a coefficient), retried until the canonical text changes and the
    result uses x; a UserError if the space is too small for that."""
    for _ in range(_MAX_TRIES):
        units = list(candidate.units)
        mutation = MUTATIONS[rng.integers(len(MUTATIONS))]
        mutation(units, int(rng.integers(len(units))), space, rng)
        child = Candidate(tuple(units))
        if child.text != candidate.text and uses_x(child.tree):
            return child
    raise UserError(f"search space too small: no mutation of {candidate.text!r} changes it")


# --- genomes of given expressions ---------------------------------------------------------------

def _choices(space: SearchSpace, unit: int = 0) -> list[UnaryChoice]:
    return [UnaryChoice(name, None if not UNARY[name][1] else
                        (c if isinstance(c, str) else float(c)))
            for name in space.unary_for(unit)
            for c in (space.coefficients if UNARY[name][1] else (None,))]


def one_unit_genomes(space: SearchSpace, unit: int = 0) -> Iterator[CoreUnit]:
    """Every core unit the space allows at position `unit`: binary x left x right choice."""
    choices = _choices(space, unit)
    for binary in space.binary_for(unit):
        for left in choices:
            for right in choices:
                yield CoreUnit(binary, left, right)


@functools.lru_cache(maxsize=8)
def _unit_by_fingerprint(space: SearchSpace) -> dict[str, CoreUnit]:
    found: dict[str, CoreUnit] = {}
    for unit in one_unit_genomes(space):
        mark = fingerprint(normalize(unit.build(Var())))
        found.setdefault(mark, unit)
    return found


def genome_of(tree: Expr, space: SearchSpace) -> Candidate | None:
    """A genome of the space computing the same function as `tree` (an included expression),
    so evolution can be told its result and mutate it; None when no one-unit genome (followed,
    in a two-unit space, by the identity unit max(z, z) or min(z, z)) matches. Enumerates the
    space's units once per space (about 11,000 in the default space)."""
    unit = _unit_by_fingerprint(space).get(fingerprint(tree))
    if unit is None:
        return None
    if space.units == 1:
        return Candidate((unit,))
    if "x" not in space.unary_for(1):
        return None
    for binary in ("max", "min"):
        if binary in space.binary_for(1):
            return Candidate((unit, CoreUnit(binary, UnaryChoice("x"), UnaryChoice("x"))))
    return None


# --- how big a space is ---------------------------------------------------------------------------

def genome_count(space: SearchSpace) -> int:
    """Genomes (primitive and coefficient choices): the product over units of
    |binary| x |unary choices|^2, a unary with a coefficient counting once per coefficient."""
    count = 1
    for i in range(space.units):
        count *= len(space.binary_for(i)) * len(_choices(space, i)) ** 2
    return count


def first_unit_functions(space: SearchSpace) -> dict[str, CoreUnit]:
    """One first unit per distinct function (by fingerprint), those not using x included."""
    return dict(_unit_by_fingerprint(space))


def distinct_functions(space: SearchSpace) -> int:
    """Distinct functions of x (by fingerprint) among the space's genomes, counted by
    enumeration. Two units: a composition's values at the fingerprint points depend only on
    the first unit's values there, so each distinct first-unit function is composed with each
    second unit (about 6,000 x the second unit's genomes evaluations)."""
    firsts = [normalize(unit.build(Var())) for unit in _unit_by_fingerprint(space).values()]
    if space.units == 1:
        return sum(1 for tree in firsts if uses_x(tree))
    marks = set()
    for second in one_unit_genomes(space, 1):
        for first in firsts:
            tree = second.build(first)
            if uses_x(tree):
                marks.add(fingerprint(tree))
    return len(marks)
