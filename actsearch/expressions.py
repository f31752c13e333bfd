"""Activation functions written as expressions of `x`, e.g. `x * sigmoid(beta * x)`.

The language covers the unary and binary primitives of Ramachandran, Zoph & Le (2017,
"Searching for Activation Functions"): numbers, `+ - * / **`, unary minus, the named
functions in `UNARY_FUNCTIONS`, `max(a, b)`, `min(a, b)`, the variable `x` and learnable
scalars `beta`, `beta1` .. `beta9` (one trainable weight per distinct name and layer, started
at 1.0). Text is parsed with `ast` against a whitelist into a small immutable tree; nothing
is ever `eval`-ed.

Safe forms (the same in numpy and Keras, so screening sees what training will see):
- `a / b` divides by b pushed away from zero: b >= 0 -> max(b, EPS), b < 0 -> min(b, -EPS).
- `log(a)` is log(|a| + EPS), as Ramachandran et al.
- `sqrt(a)` is sqrt(|a| + EPS) - sqrt(EPS): zero at 0 with a finite gradient there.
- `exp`, `sinh`, `cosh` clip their input to +-EXP_CLIP, so two clipped exponentials can be
  multiplied without overflowing float32.
- `a ** p` takes only a constant integer p with |p| <= MAX_EXPONENT; a negative p is a safe
  division 1 / a**|p|.
- `sinc(a)` is the unnormalised sin(a)/a (1 at 0); `gauss(a)` is exp(-a^2).
- 16-bit inputs (mixed precision: float16 on a GPU, bfloat16 on a CPU) are computed in
  float32 and the result clipped to the 16-bit type's finite range before the cast back. In
  float16 the guards above would not hold (e^EXP_CLIP and 1/EPS overflow its 65504, and EPS
  is below its smallest normal number), and in either type the values would drift from the
  float64 ones screening judged; this way they are those values rounded, or saturated at
  +-65504 where float16 cannot hold them.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import keras
import numpy as np

from actsearch.errors import UserError

EPS = 1e-6  # guards denominators, log(|a|) and sqrt's gradient at 0
EXP_CLIP = 40.0  # e^40 = 2.4e17: a product of two stays below float32's 3.4e38
MAX_EXPONENT = 8  # x ** 8 is already steep; x ** 1000 only overflows
MAX_DEPTH = 12  # deeper trees are unreadable and not what a search should produce
MAX_LENGTH = 300
PARAM_INITIAL = 1.0  # beta = 1 makes x * sigmoid(beta * x) start as Swish
_SINC_SMALL = 1e-3  # below this |a|, sinc uses 1 - a^2/6 (error ~a^4/120)
_PARAM_RE = re.compile(r"beta[1-9]?")


# --- the tree ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Var:
    """The input `x`."""


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Param:
    """A learnable scalar (`beta`, `beta1`, ...), PARAM_INITIAL until trained."""

    name: str


@dataclass(frozen=True)
class Unary:
    op: str  # a key of UNARY_FUNCTIONS, or "neg"
    arg: Expr


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / ** max min
    a: Expr
    b: Expr


Expr = Var | Const | Param | Unary | Binary

COMMUTATIVE = frozenset({"+", "*", "max", "min"})
BINARY_FUNCTIONS = ("max", "min")


# --- primitives, numpy and Keras side by side --------------------------------------------------

def _np_sigmoid(a):
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _np_sinc(a):
    small = np.abs(a) < _SINC_SMALL
    safe = np.where(small, 1.0, a)
    return np.where(small, 1.0 - np.square(a) / 6.0, np.sin(safe) / safe)


def _k_sinc(a):
    ops = keras.ops
    small = ops.abs(a) < _SINC_SMALL
    safe = ops.where(small, ops.ones_like(a), a)
    return ops.where(small, 1.0 - ops.square(a) / 6.0, ops.sin(safe) / safe)


_np_erf = np.frompyfunc(math.erf, 1, 1)
_SQRT_EPS = math.sqrt(EPS)


def _k(name: str) -> Callable:
    return lambda a: getattr(keras.ops, name)(a)


def _k_clipped(name: str) -> Callable:
    return lambda a: getattr(keras.ops, name)(keras.ops.clip(a, -EXP_CLIP, EXP_CLIP))


# name -> (numpy form, Keras form)
UNARY_FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "sigmoid": (_np_sigmoid, _k("sigmoid")),
    "tanh": (np.tanh, _k("tanh")),
    "relu": (lambda a: np.maximum(a, 0.0), _k("relu")),
    "exp": (lambda a: np.exp(np.minimum(a, EXP_CLIP)),
            lambda a: keras.ops.exp(keras.ops.minimum(a, EXP_CLIP))),
    "log": (lambda a: np.log(np.abs(a) + EPS), lambda a: keras.ops.log(keras.ops.abs(a) + EPS)),
    "abs": (np.abs, _k("abs")),
    "sqrt": (lambda a: np.sqrt(np.abs(a) + EPS) - _SQRT_EPS,
             lambda a: keras.ops.sqrt(keras.ops.abs(a) + EPS) - _SQRT_EPS),
    "sin": (np.sin, _k("sin")),
    "cos": (np.cos, _k("cos")),
    "sinh": (lambda a: np.sinh(np.clip(a, -EXP_CLIP, EXP_CLIP)), _k_clipped("sinh")),
    "cosh": (lambda a: np.cosh(np.clip(a, -EXP_CLIP, EXP_CLIP)), _k_clipped("cosh")),
    "asinh": (np.arcsinh, _k("arcsinh")),
    "atan": (np.arctan, _k("arctan")),
    "erf": (lambda a: _np_erf(a).astype(np.float64), _k("erf")),
    "softplus": (lambda a: np.logaddexp(0.0, a), _k("softplus")),
    "sinc": (_np_sinc, _k_sinc),
    "gauss": (lambda a: np.exp(-np.square(a)), lambda a: keras.ops.exp(-keras.ops.square(a))),
}
_NP_UNARY = {name: forms[0] for name, forms in UNARY_FUNCTIONS.items()} | {"neg": np.negative}
_K_UNARY = {name: forms[1] for name, forms in UNARY_FUNCTIONS.items()} | {"neg": keras.ops.negative}


def _np_safe_denominator(d):
    return np.where(d >= 0, np.maximum(d, EPS), np.minimum(d, -EPS))


def _k_safe_denominator(d):
    ops = keras.ops
    return ops.where(d >= 0, ops.maximum(d, EPS), ops.minimum(d, -EPS))


def _np_power(a, p: float):
    if p >= 0:
        return np.power(a, p)
    return 1.0 / _np_safe_denominator(np.power(a, -p))


def _k_power(a, p: float):
    if p >= 0:
        return keras.ops.power(a, p)
    return 1.0 / _k_safe_denominator(keras.ops.power(a, -p))


_NP_BINARY: dict[str, Callable] = {
    "+": np.add, "-": np.subtract, "*": np.multiply,
    "/": lambda a, b: a / _np_safe_denominator(b),
    "max": np.maximum, "min": np.minimum,
}
_K_BINARY: dict[str, Callable] = {
    "+": keras.ops.add, "-": keras.ops.subtract, "*": keras.ops.multiply,
    "/": lambda a, b: keras.ops.divide(a, _k_safe_denominator(b)),
    "max": keras.ops.maximum, "min": keras.ops.minimum,
}


# --- parsing -----------------------------------------------------------------------------------

_AST_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_AST_OP_TEXT = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<",
                ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&"}
_FORBIDDEN = {
    ast.Attribute: "attribute access is not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "and/or are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.IfExp: "if/else is not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
}


def _fail(text: str, problem: str) -> UserError:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return UserError(f"activation expression {shown!r}: {problem}")


def parse(text: str) -> Expr:
    """Expression text -> its normalised tree (commutative operands sorted), or a one-line
    UserError naming what is outside the language."""
    if not isinstance(text, str):
        raise UserError(f"activation expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise _fail(text, f"too long ({len(text)} characters, at most {MAX_LENGTH})")
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise _fail(text, f"not a valid expression ({reason})") from None
    tree = _convert(node, text, 1)
    if not uses_x(tree):
        raise _fail(text, "does not use x")
    return tree


def _number(node: ast.AST, text: str) -> float | None:
    """The value of a (possibly negated) numeric literal, None if `node` is not one."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if not isinstance(node, ast.Constant):
        return None
    value = node.value
    if isinstance(value, bool):
        raise _fail(text, f"{value} is not allowed (booleans are not numbers here)")
    if isinstance(value, (str, bytes)):
        raise _fail(text, "strings are not allowed")
    if isinstance(value, complex):
        raise _fail(text, "complex numbers are not allowed")
    if not isinstance(value, (int, float)):
        raise _fail(text, f"{value!r} is not allowed")
    try:
        number = sign * float(value)
    except OverflowError:
        raise _fail(text, "number too large") from None
    if not math.isfinite(number):
        raise _fail(text, "number too large (not finite)")
    return number


def _convert(node: ast.AST, text: str, depth: int) -> Expr:
    if depth > MAX_DEPTH:
        raise _fail(text, f"nested deeper than {MAX_DEPTH} levels")
    number = _number(node, text)
    if number is not None:
        return Const(number)
    if isinstance(node, ast.Name):
        return _name(node.id, text)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.UAdd):
            return _convert(node.operand, text, depth)
        if isinstance(node.op, ast.USub):
            return Unary("neg", _convert(node.operand, text, depth + 1))
        raise _fail(text, f"operator {'not' if isinstance(node.op, ast.Not) else '~'} "
                          "is not allowed")
    if isinstance(node, ast.BinOp):
        op = _AST_BINOPS.get(type(node.op))
        if op is None:
            raise _fail(text, f"operator {_AST_OP_TEXT.get(type(node.op), '?')} is not allowed")
        a = _convert(node.left, text, depth + 1)
        if op == "**":
            return Binary("**", a, _exponent(node.right, text))
        return _binary(op, a, _convert(node.right, text, depth + 1))
    if isinstance(node, ast.Call):
        return _call(node, text, depth)
    for kind, problem in _FORBIDDEN.items():
        if isinstance(node, kind):
            raise _fail(text, problem)
    raise _fail(text, f"{type(node).__name__} is not allowed")


def _name(name: str, text: str) -> Expr:
    if name == "x":
        return Var()
    if _PARAM_RE.fullmatch(name):
        return Param(name)
    if name in UNARY_FUNCTIONS or name in BINARY_FUNCTIONS:
        raise _fail(text, f"{name} is a function: call it, e.g. {name}(x)")
    raise _fail(text, f"unknown name {name!r} (the variable is x; learnable: beta, beta1..beta9)")


def _exponent(node: ast.AST, text: str) -> Const:
    p = _number(node, text)
    if p is None:
        raise _fail(text, "the exponent of ** must be a number")
    if not p.is_integer():
        raise _fail(text, f"exponent {p:g} is not an integer (use sqrt for a root)")
    if abs(p) > MAX_EXPONENT:
        raise _fail(text, f"exponent {p:g} too large (at most {MAX_EXPONENT} in size)")
    return Const(p)


def _call(node: ast.Call, text: str, depth: int) -> Expr:
    if isinstance(node.func, ast.Attribute):
        raise _fail(text, "attribute access is not allowed")
    if not isinstance(node.func, ast.Name):
        raise _fail(text, "only named functions can be called")
    name = node.func.id
    arity = 1 if name in UNARY_FUNCTIONS else 2 if name in BINARY_FUNCTIONS else 0
    if not arity:
        known = [*UNARY_FUNCTIONS, *BINARY_FUNCTIONS]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise _fail(text, f"unknown function {name!r} ({hint}known: {', '.join(known)})")
    if node.keywords:
        raise _fail(text, f"keyword arguments are not allowed ({name})")
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _fail(text, f"*arguments are not allowed ({name})")
    if len(node.args) != arity:
        raise _fail(text, f"{name} takes {arity} argument{'s' * (arity > 1)}, "
                          f"got {len(node.args)}")
    args = [_convert(arg, text, depth + 1) for arg in node.args]
    return Unary(name, args[0]) if arity == 1 else _binary(name, *args)


def _binary(op: str, a: Expr, b: Expr) -> Binary:
    if op in COMMUTATIVE and canonical(b) < canonical(a):
        a, b = b, a
    return Binary(op, a, b)


def normalize(tree: Expr) -> Expr:
    """The tree `parse(canonical(tree))` gives: commutative operands sorted, -number folded."""
    if isinstance(tree, Unary):
        arg = normalize(tree.arg)
        if tree.op == "neg" and isinstance(arg, Const):
            return Const(-arg.value)
        return Unary(tree.op, arg)
    if isinstance(tree, Binary):
        return _binary(tree.op, normalize(tree.a), normalize(tree.b))
    if isinstance(tree, Const):
        return Const(float(tree.value))
    return tree


# --- canonical text ----------------------------------------------------------------------------

_ADD, _MUL, _NEG, _POW, _ATOM = 1, 2, 3, 4, 5
_PRECEDENCE = {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "**": _POW}


def format_number(value: float) -> str:
    """`2.0` -> `2`, `1.5` -> `1.5`: the shortest text that reads back as the same float."""
    value = float(value)
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def canonical(tree: Expr) -> str:
    """Deterministic text for a tree: commutative operands in order of their own text, minimal
    parentheses, normalised numbers; `parse(canonical(t)) == normalize(t)`."""
    return _text(tree)[0]


def _text(tree: Expr) -> tuple[str, int]:
    if isinstance(tree, Var):
        return "x", _ATOM
    if isinstance(tree, Param):
        return tree.name, _ATOM
    if isinstance(tree, Const):
        return format_number(tree.value), _NEG if tree.value < 0 else _ATOM
    if isinstance(tree, Unary):
        if tree.op == "neg":
            return "-" + _wrap(tree.arg, _NEG), _NEG
        return f"{tree.op}({canonical(tree.arg)})", _ATOM
    if isinstance(tree, Binary):
        a, b = (tree.a, tree.b)
        if tree.op in COMMUTATIVE and canonical(b) < canonical(a):
            a, b = b, a
        if tree.op in BINARY_FUNCTIONS:
            return f"{tree.op}({canonical(a)}, {canonical(b)})", _ATOM
        prec = _PRECEDENCE[tree.op]
        if tree.op == "**":  # right-associative; the base must be an atom (-x ** 2 = -(x ** 2))
            return f"{_wrap(a, _ATOM)} ** {_wrap(b, _NEG)}", _POW
        return f"{_wrap(a, prec)} {tree.op} {_wrap(b, prec + 1)}", prec
    raise TypeError(f"not an expression tree: {tree!r}")


def _wrap(tree: Expr, at_least: int) -> str:
    text, prec = _text(tree)
    return text if prec >= at_least else f"({text})"


# --- facts about a tree ------------------------------------------------------------------------

def _children(tree: Expr) -> tuple[Expr, ...]:
    if isinstance(tree, Unary):
        return (tree.arg,)
    if isinstance(tree, Binary):
        return (tree.a, tree.b)
    return ()


def uses_x(tree: Expr) -> bool:
    return isinstance(tree, Var) or any(uses_x(child) for child in _children(tree))


def param_names(tree: Expr) -> tuple[str, ...]:
    """The distinct learnable parameters in the tree, sorted."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Param):
            found.add(node.name)
        stack.extend(_children(node))
    return tuple(sorted(found))


def depth(tree: Expr) -> int:
    return 1 + max((depth(child) for child in _children(tree)), default=0)


def looks_like_expression(name: str) -> bool:
    """Whether an activation name is meant as an expression rather than a registered name
    (`leaky-relu`: a hyphen is not an operator here) or `module:function`: it has no `:` and
    has `x` as a whole word, an operator other than `-`, a parenthesis or a space."""
    if ":" in name:
        return False
    return bool(re.search(r"[()*/+,\s]", name) or re.search(r"\bx\b", name))


# --- evaluation --------------------------------------------------------------------------------

def evaluate_numpy(tree: Expr, x: np.ndarray,
                   params: Mapping[str, float] | None = None) -> np.ndarray:
    """The function's values at `x` in float64, with the safe forms of the module docstring;
    parameters default to PARAM_INITIAL. Non-finite results are returned, not raised."""
    x = np.asarray(x, dtype=np.float64)
    params = params or {}
    with np.errstate(all="ignore"):
        values = _np_eval(tree, x, params)
        return np.broadcast_to(np.asarray(values, dtype=np.float64), x.shape).copy()


def _np_eval(tree: Expr, x: np.ndarray, params: Mapping[str, float]):
    if isinstance(tree, Var):
        return x
    if isinstance(tree, Const):
        return np.float64(tree.value)
    if isinstance(tree, Param):
        return np.float64(params.get(tree.name, PARAM_INITIAL))
    if isinstance(tree, Unary):
        return _NP_UNARY[tree.op](_np_eval(tree.arg, x, params))
    if tree.op == "**":
        return _np_power(_np_eval(tree.a, x, params), tree.b.value)
    return _NP_BINARY[tree.op](_np_eval(tree.a, x, params), _np_eval(tree.b, x, params))


# the largest finite value of each 16-bit float type (float16: 65504)
HALF_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38}


def evaluate_keras(tree: Expr, x, params: Mapping[str, object] | None = None):
    """The function applied to tensor `x` with keras.ops (differentiable), constants in x's
    dtype; `params` maps parameter names to scalars or variables (default PARAM_INITIAL).
    A float16/bfloat16 `x` is computed in float32 and returned in its own dtype, clipped to
    its finite range (module docstring)."""
    ops = keras.ops
    x = ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if dtype not in HALF_MAX:
        return _k_eval(tree, x, params or {})
    wide = _k_eval(tree, ops.cast(x, "float32"), params or {})
    return ops.cast(ops.clip(wide, -HALF_MAX[dtype], HALF_MAX[dtype]), dtype)


def _k_eval(tree: Expr, x, params: Mapping[str, object]):
    ops = keras.ops
    if isinstance(tree, Var):
        return x
    if isinstance(tree, Const):
        return ops.convert_to_tensor(tree.value, dtype=x.dtype)
    if isinstance(tree, Param):
        return ops.cast(params.get(tree.name, PARAM_INITIAL), x.dtype)
    if isinstance(tree, Unary):
        return _K_UNARY[tree.op](_k_eval(tree.arg, x, params))
    if tree.op == "**":
        return _k_power(_k_eval(tree.a, x, params), tree.b.value)
    return _K_BINARY[tree.op](_k_eval(tree.a, x, params), _k_eval(tree.b, x, params))


# --- fingerprint -------------------------------------------------------------------------------

FINGERPRINT_POINTS = np.concatenate([np.linspace(-6.0, 6.0, 64),
                                     [-100.0, -30.0, -12.0, 12.0, 30.0, 100.0]])
_ZERO_BELOW = 1e-9  # sin(x)**2 + cos(x)**2 - 1 is ~1e-17, not a different function


# A learnable parameter is evaluated at each of these values: 1.0 is PARAM_INITIAL (and an
# allowed constant), the others are no constant of the search space. Values above 1 only would
# merge functions that differ below 1 or for a negative parameter (max(beta * x, relu(x)) and
# beta * relu(x) agree for every beta >= 1), so one lies in (0, 1) and two are negative; and
# one lies above the largest constant, 2 (max(1.5 + x, beta + x) is 1.5 + x for beta <= 1.5). The
# i-th parameter name (sorted) takes each value times FINGERPRINT_PARAM_STRIDE**i, so two
# parameters never move together (beta1 * x + beta2 is not beta1 * x + beta1).
FINGERPRINT_PARAM_VALUES = (1.0, 1.37, 2.6, 0.43, -0.71, -1.9)
FINGERPRINT_PARAM_STRIDE = 1.13


def _value_marks(values: np.ndarray) -> list[str]:
    parts = []
    for v in values:
        if not math.isfinite(v):
            parts.append("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        elif abs(v) < _ZERO_BELOW:
            parts.append("0")
        else:
            parts.append(f"{v:.5e}")
    return parts


def fingerprint_parameters(names: tuple[str, ...]) -> list[dict[str, float]]:
    """The parameter settings a fingerprint evaluates at, one per FINGERPRINT_PARAM_VALUES."""
    return [{name: value * FINGERPRINT_PARAM_STRIDE ** i for i, name in enumerate(names)}
            for value in FINGERPRINT_PARAM_VALUES]


def fingerprint(tree: Expr) -> str:
    """A hash of the values on FINGERPRINT_POINTS rounded to 6 significant digits, at each
    parameter setting of fingerprint_parameters, so equivalent expressions (`x + x`,
    `2 * x`) share it. A fixed function's values are the same at every setting (evaluated
    once, repeated), so a learnable function shares its mark only with functions equal to it
    at every parameter value tried: `x*sigmoid(beta*x)` is not `x*sigmoid(x)`, two spellings
    of one learnable function are one, and `beta * x / beta` is `x`."""
    names = param_names(tree)
    if names:
        parts = [mark for params in fingerprint_parameters(names)
                 for mark in _value_marks(evaluate_numpy(tree, FINGERPRINT_POINTS, params))]
    else:
        parts = _value_marks(evaluate_numpy(tree, FINGERPRINT_POINTS)) \
            * len(FINGERPRINT_PARAM_VALUES)
    return hashlib.sha256(",".join(parts).encode()).hexdigest()[:16]


# --- screening ---------------------------------------------------------------------------------

SCREEN_POINTS = 1001
# Relative spread below which a function counts as constant (float64 noise is ~1e-16).
CONSTANT_TOLERANCE = 1e-9
# A linear fit this good means the network would be (nearly) a linear model over the range.
MAX_LINEAR_R2 = 0.999
# Gradients through a layer are multiplied by f'; below this everywhere in the range, they
# vanish after a couple of layers; above this, one layer multiplies them by 1000.
MIN_MAX_SLOPE = 1e-3
MAX_SLOPE = 1e3
_DIFF_STEP = 1e-5  # central differences step, relative to the range's magnitude


@dataclass(frozen=True)
class ScreenVerdict:
    ok: bool
    reason: str


def screen(tree: Expr, low: float, high: float) -> ScreenVerdict:
    """A cheap check before training, over the range [low, high] the pre-activations take:
    refuses non-finite values, constant, vanishing-slope, exploding-slope and nearly linear
    functions. The derivative is taken by central differences in numpy (float64)."""
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise UserError(f"screening range [{low}, {high}] is not a finite, non-empty interval")
    where = f"over [{low:g}, {high:g}]"
    xs = np.linspace(low, high, SCREEN_POINTS)
    h = _DIFF_STEP * max(1.0, abs(low), abs(high))
    ys = evaluate_numpy(tree, xs)
    ahead, behind = evaluate_numpy(tree, xs + h), evaluate_numpy(tree, xs - h)
    finite = np.isfinite(ys) & np.isfinite(ahead) & np.isfinite(behind)
    if not finite.all():
        return ScreenVerdict(False, f"non-finite values {where}, e.g. at x={xs[~finite][0]:g}")
    wide = evaluate_numpy(tree, FINGERPRINT_POINTS)
    everywhere = np.concatenate([ys, wide[np.isfinite(wide)]])
    if np.ptp(everywhere) <= CONSTANT_TOLERANCE * (1.0 + np.max(np.abs(everywhere))):
        return ScreenVerdict(False, "constant function")
    slope = np.max(np.abs((ahead - behind) / (2.0 * h)))
    if slope < MIN_MAX_SLOPE:
        return ScreenVerdict(False, f"derivative vanishes {where} (max |f'| = {slope:.2g})")
    if slope > MAX_SLOPE:
        return ScreenVerdict(False, f"derivative explodes {where} (max |f'| = {slope:.2g})")
    with np.errstate(all="ignore"):
        r2 = float(np.corrcoef(xs, ys)[0, 1] ** 2)
    if not math.isnan(r2) and r2 > MAX_LINEAR_R2:
        return ScreenVerdict(False, f"nearly linear {where} (R^2 = {r2:.5f})")
    return ScreenVerdict(True, f"ok {where} (max |f'| = {slope:.3g}, linear R^2 = {r2:.3f})")


# --- the layer ---------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="actsearch", name="ExpressionActivation")
class ExpressionActivation(keras.layers.Layer):
    """An expression activation as a layer. It saves its canonical text, so a `.keras` file
    reloads with plain `load_model` once `actsearch.expressions` is imported, and owns one
    trainable scalar per distinct `beta*` name (started at PARAM_INITIAL)."""

    def __init__(self, expression: str, **kwargs):
        super().__init__(**kwargs)
        self.tree = parse(expression)
        self.expression = canonical(self.tree)
        self.param_names = param_names(self.tree)
        self.params: dict[str, keras.Variable] = {}

    def build(self, input_shape):
        self.params = {
            name: self.add_weight(name=name, shape=(),
                                  initializer=keras.initializers.Constant(PARAM_INITIAL),
                                  trainable=True)
            for name in self.param_names
        }

    def call(self, inputs):
        return evaluate_keras(self.tree, inputs, self.params)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "expression": self.expression}
