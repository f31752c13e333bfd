"""Expression activations: the parser's whitelist, canonical text, fingerprints, numpy/Keras
agreement, the layer's save/load in a fresh process, and screening."""

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from actsearch.errors import UserError
from actsearch.expressions import (
    UNARY_FUNCTIONS,
    Binary,
    Const,
    ExpressionActivation,
    Param,
    Unary,
    Var,
    canonical,
    evaluate_keras,
    evaluate_numpy,
    fingerprint,
    looks_like_expression,
    normalize,
    param_names,
    parse,
    screen,
)

ROOT = Path(__file__).resolve().parents[1]

VALID = [
    "x * sigmoid(1.5 * x)", "max(x, tanh(x))", "x * tanh(softplus(x))", "x * sigmoid(beta * x)",
    "-x ** 2", "(-x) ** 2", "x - (x - 1)", "x / (x / 2)", "-(x + 1)", "x ** -2", "(x + 1) ** 2",
    "x * -1.5", "+x", "min(x, 0) + max(0.5 * x, beta1)", "gauss(x) - sinc(x) / 2.0",
    "erf(asinh(x)) + atan(sinh(x)) * cosh(x)", "sqrt(x) + log(x) * abs(exp(x)) - sin(cos(x))",
    "relu(x)", "x",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_expressions_round_trip_through_canonical_text(text):
    tree = parse(text)
    assert parse(canonical(tree)) == tree
    assert canonical(parse(canonical(tree))) == canonical(tree)


def test_canonical_text_keeps_meaning_of_precedence():
    x = np.linspace(-3, 3, 13)
    for text, expected in [("-x ** 2", -x ** 2), ("(-x) ** 2", x ** 2),
                           ("x - (x - 1)", np.ones_like(x)), ("2 ** 2 * x", 4 * x),
                           ("-(x + 1) * 2", -2 * (x + 1)), ("x - -1.5", x + 1.5)]:
        again = parse(canonical(parse(text)))
        np.testing.assert_allclose(evaluate_numpy(again, x), expected, rtol=1e-12, atol=1e-12)


def test_canonical_sorts_commutative_operands_and_normalises_numbers():
    assert canonical(parse("x*sigmoid(x)")) == canonical(parse("sigmoid(x) * x"))
    assert canonical(parse("max(tanh(x), x)")) == canonical(parse("max(x,tanh(x))"))
    assert canonical(parse("2.0*x")) == "2 * x"
    assert canonical(parse("x*1.50")) == "1.5 * x"
    assert canonical(parse("x - 1")) != canonical(parse("1 - x"))  # not commutative


def test_normalize_matches_parse_of_canonical_text_for_hand_built_trees():
    tree = Binary("*", Var(), Unary("neg", Const(2)))  # x * -(2): the -2 is folded
    assert normalize(tree) == parse(canonical(tree)) == Binary("*", Const(-2.0), Var())


HOSTILE = [
    ("x.real", "attribute"),
    ("__import__('os').system('ls')", "attribute"),
    ("__import__('os')", "unknown function"),
    ("y * x", "unknown name"),
    ("foo(x)", "unknown function"),
    ("sigmoid(x, x)", "takes 1 argument"),
    ("max(x)", "takes 2 arguments"),
    ("sigmoid(x=x)", "keyword"),
    ("sigmoid(*x)", "arguments"),
    ("x + 'a'", "strings"),
    ("f'{x}'", "strings"),
    ("x > 0", "comparisons"),
    ("x and 1", "and/or"),
    ("lambda x: x", "lambda"),
    ("x[0]", "subscripts"),
    ("x if x else 1", "if/else"),
    ("x ** 1000", "exponent"),
    ("x ** 0.5", "integer"),
    ("x ** x", "exponent"),
    ("sigmoid(" * 13 + "x" + ")" * 13, "nested"),
    ("x" + " + x" * 100, "too long"),
    ("2", "does not use x"),
    ("1 + beta * 2", "does not use x"),
    ("x +", "not a valid expression"),
    ("x\n+ 1", "not a valid expression"),
    ("x // 2", "operator"),
    ("not x", "operator"),
    ("True * x", "booleans"),
    ("1j * x", "complex"),
    ("sigmoid * x", "is a function"),
    ("1e999 * x", "finite"),
    ("(x := 2)", "assignment"),
]


@pytest.mark.parametrize("text, word", HOSTILE)
def test_hostile_or_foreign_input_is_a_one_line_user_error(text, word):
    with pytest.raises(UserError, match=word) as info:
        parse(text)
    assert "\n" not in str(info.value)


def test_fingerprint_identifies_equivalent_expressions_only():
    assert fingerprint(parse("x*sigmoid(x)")) == fingerprint(parse("sigmoid(x)*x"))
    assert fingerprint(parse("x + x")) == fingerprint(parse("2 * x"))
    assert fingerprint(parse("x * sigmoid(beta * x)")) == fingerprint(parse("x * sigmoid(x)"))
    assert fingerprint(parse("sin(x)**2 + cos(x)**2 - 1")) == fingerprint(parse("0 * x"))
    assert fingerprint(parse("x*sigmoid(x)")) != fingerprint(parse("x*tanh(x)"))
    assert fingerprint(parse("x*sigmoid(x)")) != fingerprint(parse("x*sigmoid(1.01*x)"))


def test_fingerprint_of_non_finite_values_is_deterministic_and_distinct():
    overflowing = parse("(exp(x) ** 8) ** 8")  # inf beyond x ~ 11
    assert not np.isfinite(evaluate_numpy(overflowing, np.array([100.0]))).any()
    assert fingerprint(overflowing) == fingerprint(parse(canonical(overflowing)))
    assert fingerprint(overflowing) != fingerprint(parse("(exp(x) ** 8) ** 7"))


AGREEMENT = [
    "x * sigmoid(1.5 * x)", "max(x, tanh(x))", "min(x, relu(x - 1))", "x * tanh(softplus(x))",
    "exp(x) - log(x)", "abs(x) + sqrt(x)", "sin(x) * cos(x)", "sinh(x) / cosh(x)",
    "asinh(x) + atan(x)", "erf(x)", "sinc(x)", "gauss(x)", "x / (x - 0.5)", "x ** 3 - x ** -2",
    "-x * sigmoid(beta * x)",
]


def test_agreement_list_covers_every_primitive():
    used = {op for text in AGREEMENT for op in _ops(parse(text))}
    assert set(UNARY_FUNCTIONS) | {"+", "-", "*", "/", "**", "max", "min", "neg"} <= used


def _ops(tree):
    if isinstance(tree, Unary):
        return {tree.op} | _ops(tree.arg)
    if isinstance(tree, Binary):
        return {tree.op} | _ops(tree.a) | _ops(tree.b)
    return set()


@pytest.mark.parametrize("text", AGREEMENT)
def test_numpy_and_keras_evaluations_agree(text):
    tree = parse(text)
    x = np.concatenate([np.linspace(-6, 6, 241), [0.0, 1e-4, -1e-4, 0.5, 30.0, -30.0]])
    params = {"beta": 1.3}
    expected = evaluate_numpy(tree, x, params)
    in64 = keras.ops.convert_to_tensor(x, dtype="float64")
    got64 = keras.ops.convert_to_numpy(evaluate_keras(tree, in64, params))
    np.testing.assert_allclose(got64, expected, rtol=1e-5, atol=1e-7)
    # the layer computes in float32: compare on the same float32 inputs
    x32 = x.astype(np.float32)
    expected32 = evaluate_numpy(tree, x32.astype(np.float64), params)
    layer = ExpressionActivation(text)
    layer.build(x32.shape)
    if "beta" in layer.params:
        layer.params["beta"].assign(1.3)
    got32 = keras.ops.convert_to_numpy(layer(x32))
    assert got32.dtype == np.float32
    scale = np.maximum(1.0, np.abs(expected32))
    np.testing.assert_array_less(np.abs(got32 - expected32) / scale, 2e-5)


@pytest.mark.parametrize("text", ["sqrt(x)", "log(x)", "sinc(x)", "x / x", "x ** -2"])
def test_safe_forms_have_finite_values_and_gradients_at_zero(text):
    x = tf.Variable([0.0, -0.0, 1e-30])
    with tf.GradientTape() as tape:
        y = evaluate_keras(parse(text), x)
    grad = tape.gradient(y, x)
    assert np.isfinite(y.numpy()).all()
    assert np.isfinite(grad.numpy()).all()


def test_layer_owns_one_trainable_scalar_per_distinct_beta_and_learns_it():
    layer = ExpressionActivation("beta * x + beta1 * sigmoid(beta * x)")
    layer.build((None, 3))
    assert sorted(w.path.split("/")[-1] for w in layer.trainable_weights) == ["beta", "beta1"]
    assert param_names(layer.tree) == ("beta", "beta1")
    assert layer.compute_output_shape((None, 3)) == (None, 3)
    assert layer.get_config()["expression"] == canonical(parse(
        "beta * x + beta1 * sigmoid(beta * x)"))
    x = tf.constant([[1.0, -2.0, 0.5]])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer(x))
    grads = tape.gradient(y, layer.trainable_weights)
    assert all(abs(float(g)) > 1e-3 for g in grads)
    np.testing.assert_allclose(float(layer.params["beta1"].numpy()), 1.0)


def test_layer_refuses_bad_text_and_param_is_not_x():
    with pytest.raises(UserError, match="unknown name"):
        ExpressionActivation("x * gamma")
    assert Param("beta") != Var()


_RELOAD = """
import sys, numpy as np, keras
import actsearch.expressions
model = keras.models.load_model(sys.argv[1])
layer = model.get_layer("act")
print(layer.expression)
print(float(layer.params["beta"].numpy()))
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
"""


@pytest.mark.slow
def test_model_with_expression_reloads_in_a_fresh_process(tmp_path):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, name="dense")(inputs)
    outputs = ExpressionActivation("x * sigmoid(beta * x)", name="act")(hidden)
    model = keras.Model(inputs, outputs)
    model.get_layer("act").params["beta"].assign(1.7)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", _RELOAD, str(tmp_path / "m.keras"), str(tmp_path / "x.npy"),
         str(tmp_path / "y.npy")], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    text, beta = result.stdout.strip().splitlines()[-2:]
    assert text == canonical(parse("x * sigmoid(beta * x)"))
    assert float(beta) == pytest.approx(1.7)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["x * sigmoid(x)", "max(x, tanh(x))", "x", "2*x", "x-1",
                                  "sigmoid(beta*x)", "x + 1"])
def test_expressions_look_like_expressions(name):
    assert looks_like_expression(name)


@pytest.mark.parametrize("name", ["relu", "leaky-relu", "gelu-exact", "gelu", "prelu", "selu",
                                  "elu", "swish", "mish", "softplus", "sigmoid", "tanh",
                                  "linear", "my_mod:fn", "tests.user_activations:x",
                                  "pkg.mod:f(x)"])
def test_registered_and_imported_names_do_not_look_like_expressions(name):
    assert not looks_like_expression(name)


@pytest.mark.parametrize("text, low, high, word", [
    ("x", -6, 6, "linear"),
    ("3 * x - 1", -1, 1, "linear"),
    ("0 * x", -6, 6, "constant"),
    ("x - x + 2", -6, 6, "constant"),
    ("exp(exp(x))", -6, 6, "explodes|non-finite"),
    ("(exp(x) ** 8) ** 8", 0, 20, "non-finite"),
    ("x ** 8", -6, 6, "explodes"),
    ("sigmoid(x)", 50, 60, "vanishes"),
    ("1e-5 * tanh(x)", -3, 3, "vanishes"),
    ("x * sigmoid(x)", -0.01, 0.01, "linear"),
])
def test_screen_refuses(text, low, high, word):
    verdict = screen(parse(text), low, high)
    assert not verdict.ok
    assert verdict.reason and re.search(word, verdict.reason)


@pytest.mark.parametrize("text, low, high", [
    ("sigmoid(x)", -4, 4), ("x * sigmoid(x)", -6, 6), ("x * sigmoid(beta * x)", -4, 4),
    ("relu(x)", -3, 3), ("tanh(x)", -3, 3), ("x * tanh(softplus(x))", -5, 5),
])
def test_screen_accepts_useful_activations(text, low, high):
    verdict = screen(parse(text), low, high)
    assert verdict.ok, verdict.reason


def test_screen_needs_a_real_range():
    with pytest.raises(UserError, match="range"):
        screen(parse("tanh(x)"), 2, 2)


# --- the safe forms in 16-bit floats (mixed precision) ------------------------------------------

PRIMITIVES = [f"{name}(x)" for name in UNARY_FUNCTIONS] + [
    "x / (x - 1)", "1 / x", "x / (x * x)", "x ** 8", "x ** -8", "x ** 3", "x ** -1",
    "exp(x) * exp(x)", "cosh(x) * sinh(x)", "log(x) / x", "max(x, 0) + min(x, 1)", "-x",
    "x * sigmoid(beta * x)"]
# a wide screening range (search.screen_range is usually within [-10, 10]) and the points
# where the safe forms act: 0, just off it, and float16's smallest normal number
RANGE_16 = np.concatenate([np.linspace(-12.0, 12.0, 481),
                           [0.0, -0.0, 1e-6, -1e-6, 6.2e-5, -6.2e-5, 1e-3, -1e-3]])
FINITE_MAX = {"float16": 65504.0, "bfloat16": 3.38e38}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("text", PRIMITIVES)
def test_safe_forms_stay_finite_in_16_bit_floats(text, dtype):
    """Mixed precision hands the activation float16 (GPU) or bfloat16 (CPU) inputs: the safe
    forms must stay finite there (EXP_CLIP's e^40 and 1/EPS overflow float16's 65504) and
    agree with the float64 values screening judged, wherever those are representable."""
    tree = parse(text)
    x16 = keras.ops.cast(keras.ops.convert_to_tensor(RANGE_16, dtype="float32"), dtype)
    x_seen = keras.ops.convert_to_numpy(keras.ops.cast(x16, "float32")).astype(np.float64)
    got = evaluate_keras(tree, x16)
    assert keras.backend.standardize_dtype(got.dtype) == dtype
    got = keras.ops.convert_to_numpy(keras.ops.cast(got, "float32")).astype(np.float64)
    assert np.isfinite(got).all(), x_seen[~np.isfinite(got)][:5]
    expected = evaluate_numpy(tree, x_seen)
    inside = np.abs(expected) < FINITE_MAX[dtype] / 2
    resolution = 2.0 ** -10 if dtype == "float16" else 2.0 ** -7  # relative rounding, x 2
    tolerance = 4 * resolution * np.maximum(1.0, np.abs(expected[inside]))
    assert np.all(np.abs(got[inside] - expected[inside]) <= tolerance)
    assert np.all(np.abs(got[~inside]) >= FINITE_MAX[dtype] / 4)  # saturated, same sign
    assert np.all(np.sign(got[~inside]) == np.sign(expected[~inside]))


@pytest.mark.parametrize("text", PRIMITIVES)
def test_safe_forms_have_finite_gradients_in_bfloat16(text):
    x = tf.Variable(tf.cast(RANGE_16, tf.bfloat16))
    with tf.GradientTape() as tape:
        y = evaluate_keras(parse(text), x)
    grad = tape.gradient(y, x)
    assert grad is not None and np.isfinite(tf.cast(grad, tf.float32).numpy()).all()
