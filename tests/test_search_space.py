"""The search space: validation, sampling, mutation, and aging evolution's selection, ageing,
dedup, determinism and resume from a saved state."""

import json

import numpy as np
import pytest

from actsearch.errors import UserError
from actsearch.expressions import (
    FINGERPRINT_POINTS,
    Const,
    Var,
    _np_eval,  # the vectorised evaluator, beta as an array
    canonical,
    evaluate_numpy,
    fingerprint,
    normalize,
    param_names,
    parse,
    uses_x,
)
from actsearch.search.evolution import AgingEvolution
from actsearch.search.space import (
    BINARY,
    CONSTANTS,
    UNARY,
    Candidate,
    SearchSpace,
    distinct_functions,
    genome_count,
    genome_of,
    in_space,
    mutate,
    one_unit_genomes,
    sample,
)

SPACES = [
    SearchSpace(),
    SearchSpace(units=2),
    SearchSpace(unary=["x", "tanh", "sigmoid", "scale"], binary=["*", "max"], beta=False),
    SearchSpace(unary=["x", "scale", "const", "relu"], binary=["add", "sigmoid_mul"],
                constants=False, units=2),
    SearchSpace(units=2, second_unary=["x", "tanh", "scale"], second_binary=["mul", "add"]),
]


@pytest.mark.parametrize("values, word", [
    ({"unary": ["x", "tanhh"]}, "unknown unary"),
    ({"binary": ["add", "pow"]}, "unknown binary"),
    ({"binary": []}, "empty"),
    ({"unary": "tanh"}, "list"),
    ({"units": 0}, "units"),
    ({"units": 3}, "units"),
    ({"units": True}, "units"),
    ({"unary": ["x", "scale"], "constants": False, "beta": False}, "coefficient"),
    ({"beta": "yes"}, "beta"),
    ({"second_unary": ["x", "tanh"]}, "needs units: 2"),
    ({"units": 2, "second_binary": ["pow"]}, "unknown second binary"),
])
def test_invalid_spaces_are_user_errors(values, word):
    with pytest.raises(UserError, match=word):
        SearchSpace(**values)


def test_space_from_mapping_accepts_symbols_and_refuses_unknown_settings():
    space = SearchSpace.from_mapping({"unary": ["x", "tanh"], "binary": ["+", "*", "max"]})
    assert space.binary == ("add", "mul", "max")
    with pytest.raises(UserError, match="unknown setting 'unit'"):
        SearchSpace.from_mapping({"unit": 2})


@pytest.mark.parametrize("space", SPACES)
def test_samples_are_in_the_space_and_parse_back_from_canonical_text(space):
    rng = np.random.default_rng(1)
    used_unary, used_binary = set(), set()
    for _ in range(300):
        candidate = sample(space, rng)
        assert in_space(candidate, space)
        assert parse(candidate.text) == candidate.tree
        assert len(candidate.units) == space.units
        used_binary |= {unit.binary for unit in candidate.units}
        used_unary |= {c.name for unit in candidate.units for c in (unit.left, unit.right)}
        names = param_names(candidate.tree)
        assert names == () or (space.beta and names == ("beta",))
    assert used_unary == set(space.unary)
    assert used_binary == set(space.binary)


def test_coefficients_come_from_the_allowed_set():
    rng = np.random.default_rng(2)
    constants_only = SearchSpace(unary=["scale", "shift", "x"], binary=["mul"], beta=False)
    beta_only = SearchSpace(unary=["scale", "shift", "x"], binary=["mul"], constants=False)
    for _ in range(100):
        for unit in sample(constants_only, rng).units:
            for c in (unit.left, unit.right):
                assert c.coefficient is None or c.coefficient in CONSTANTS
        for unit in sample(beta_only, rng).units:
            assert {unit.left.coefficient, unit.right.coefficient} <= {None, "beta"}


def test_two_units_feed_the_first_unit_into_the_second():
    space = SearchSpace(unary=["x", "tanh"], binary=["mul"], units=2)
    candidate = Candidate.from_dict({"units": [
        {"binary": "mul", "left": {"name": "x"}, "right": {"name": "tanh"}},
        {"binary": "mul", "left": {"name": "tanh"}, "right": {"name": "x"}},
    ]})
    assert in_space(candidate, space)
    x = np.linspace(-3, 3, 25)
    inner = x * np.tanh(x)
    np.testing.assert_allclose(evaluate_numpy(candidate.tree, x), np.tanh(inner) * inner,
                               rtol=1e-12)


@pytest.mark.parametrize("space", SPACES)
def test_mutation_changes_exactly_one_unit_and_stays_in_the_space(space):
    rng = np.random.default_rng(3)
    for _ in range(200):
        parent = sample(space, rng)
        child = mutate(parent, space, rng)
        assert child.text != parent.text
        assert in_space(child, space)
        assert parse(child.text) == child.tree
        assert sum(a != b for a, b in zip(parent.units, child.units, strict=True)) == 1


def test_mutation_changes_constants_and_every_kind_is_reachable():
    space = SearchSpace(unary=["scale"], binary=["add"], beta=False)
    rng = np.random.default_rng(4)
    parent = Candidate.from_dict({"units": [{"binary": "add",
                                             "left": {"name": "scale", "coefficient": 0.5},
                                             "right": {"name": "scale", "coefficient": 0.5}}]})
    child = mutate(parent, space, rng)  # only a coefficient can change here
    values = {n.value for n in (child.tree.a.a, child.tree.b.a) if isinstance(n, Const)}
    assert values - {0.5} and values <= set(CONSTANTS)


def test_mutation_in_a_one_candidate_space_is_a_user_error():
    space = SearchSpace(unary=["x"], binary=["add"], constants=False, beta=False)
    candidate = sample(space, np.random.default_rng(0))
    with pytest.raises(UserError, match="too small"):
        mutate(candidate, space, np.random.default_rng(0))


def test_aging_evolution_drops_the_oldest():
    search = AgingEvolution(SearchSpace(), population_size=4, sample_size=2, seed=0)
    reported = []
    for i in range(7):
        candidate = search.propose()
        search.report(candidate, float(i))
        reported.append(candidate)
    search.propose()  # ages: a result told is dropped only once a tournament could pick it
    assert [c for c, _ in search.population] == reported[-4:]
    assert [s for _, s in search.population] == [3.0, 4.0, 5.0, 6.0]


def test_a_batch_larger_than_the_population_stays_whole_through_the_next_batch():
    """The defaults: batches of 32, population 16. Every result of a batch is in the
    population for each of the next batch's 32 tournaments; the batch's best was told first,
    which ageing at each report dropped 16 results later."""
    search = AgingEvolution(SearchSpace(units=2), population_size=16, sample_size=4, seed=3)
    for _ in range(3):
        batch = [search.propose() for _ in range(32)]
        scores = [1.0, *np.linspace(0.0, 0.5, 31)]  # the best is told first
        for candidate, score in zip(batch, scores, strict=True):
            search.report(candidate, score)
        told = [(c.text, s) for c, s in zip(batch, scores, strict=True)]
        state = json.loads(json.dumps(search.to_state()))
        search = AgingEvolution.from_state(state)  # a resume between batches keeps it
        for _ in range(32):
            search.propose()
            assert [(c.text, s) for c, s in search.population] == told


def test_full_population_mutates_the_tournament_winner():
    space = SearchSpace(units=2)
    search = AgingEvolution(space, population_size=5, sample_size=5, seed=5)
    scores = [0.1, 0.9, None, float("nan"), 0.2]
    for score in scores:
        search.report(search.propose(), score)
    assert [s for _, s in search.population][2:4] == [None, None]  # NaN counts as failed
    best = search.population[1][0]
    for _ in range(10):  # sample_size == population_size: the winner is always the best
        child = search.propose()
        assert sum(a == b for a, b in zip(child.units, best.units, strict=True)) == 1


def test_proposals_are_never_seen_before_and_exhaustion_is_a_user_error():
    search = AgingEvolution(SearchSpace(units=2), population_size=6, sample_size=3, seed=6)
    marks = set()
    for _ in range(30):
        candidate = search.propose()
        assert candidate.fingerprint not in marks
        marks.add(candidate.fingerprint)
        search.report(candidate, float(len(candidate.text)))
    tiny = AgingEvolution(SearchSpace(unary=["x"], binary=["add", "mul"], constants=False,
                                      beta=False), population_size=2, sample_size=1, seed=0)
    assert {tiny.propose().text, tiny.propose().text} == {"x + x", "x * x"}
    with pytest.raises(UserError, match="exhausted"):
        tiny.propose()


def test_reported_candidates_are_seen():
    search = AgingEvolution(SearchSpace(), seed=7)
    swish = Candidate.from_dict({"units": [{"binary": "sigmoid_mul",
                                            "left": {"name": "x"}, "right": {"name": "x"}}]})
    assert not search.is_seen(swish)
    search.report(swish, 0.5)
    assert search.is_seen(swish)


def _score(candidate: Candidate) -> float:
    """A deterministic stand-in for validation accuracy: closeness to Swish on a grid."""
    x = np.linspace(-4, 4, 33)
    return -float(np.mean(np.abs(evaluate_numpy(candidate.tree, x) - x / (1 + np.exp(-x)))))


def _run(seed: int, steps: int, save_at: int | None = None) -> list[str]:
    search = AgingEvolution(SearchSpace(units=2), population_size=6, sample_size=3, seed=seed)
    texts = []
    for step in range(steps):
        if step == save_at:
            state = json.loads(json.dumps(search.to_state(), allow_nan=False))
            search = AgingEvolution.from_state(state)
        candidate = search.propose()
        texts.append(candidate.text)
        search.report(candidate, _score(candidate))
    return texts


def test_same_seed_and_scores_give_the_same_candidates_even_across_a_resume():
    uninterrupted = _run(seed=11, steps=25)
    assert _run(seed=11, steps=25) == uninterrupted
    assert _run(seed=11, steps=25, save_at=13) == uninterrupted
    assert _run(seed=12, steps=25) != uninterrupted
    assert len(set(uninterrupted)) == 25


def test_state_restores_population_seen_and_settings():
    search = AgingEvolution(SearchSpace(unary=["x", "tanh", "scale"], binary=["mul", "add"],
                                        units=2), population_size=3, sample_size=2, seed=8)
    for _ in range(5):
        candidate = search.propose()
        search.report(candidate, _score(candidate))
    restored = AgingEvolution.from_state(json.loads(json.dumps(search.to_state())))
    assert restored.population == search.population
    assert restored.seen == search.seen
    assert restored.space == search.space
    assert (restored.population_size, restored.sample_size) == (3, 2)


@pytest.mark.parametrize("state", [{}, {"version": 1}, {"version": 1, "space": {"units": 9}}])
def test_malformed_state_is_a_user_error(state):
    with pytest.raises(UserError, match="search"):
        AgingEvolution.from_state(state)


@pytest.mark.parametrize("kwargs, word", [({"population_size": 1}, "population"),
                                          ({"population_size": 4, "sample_size": 5}, "sample")])
def test_invalid_evolution_settings_are_user_errors(kwargs, word):
    with pytest.raises(UserError, match=word):
        AgingEvolution(SearchSpace(), **kwargs)


def test_every_primitive_builds_a_tree_that_round_trips():
    x, t = Var(), parse("tanh(x)")
    trees = [build(x, 1.5 if takes else None) for name, (build, takes) in UNARY.items()
             if name != "const"] + [build(x, t) for build in BINARY.values()]
    for tree in trees:
        assert parse(canonical(tree)) == normalize(tree)


def test_a_smaller_second_unit_draws_only_from_its_own_sets():
    space = SearchSpace(units=2, second_unary=["x", "tanh"], second_binary=["mul"])
    rng = np.random.default_rng(7)
    firsts = set()
    for _ in range(200):
        candidate = mutate(sample(space, rng), space, rng)
        first, second = candidate.units
        assert second.binary == "mul" and {second.left.name, second.right.name} <= {"x", "tanh"}
        firsts.add(first.binary)
    assert len(firsts) > 2  # the first unit still draws from every binary


def _brute_force(space: SearchSpace) -> tuple[int, int]:
    """(genomes, distinct functions of x) by building every genome."""
    units = [list(one_unit_genomes(space, i)) for i in range(space.units)]
    genomes = [(u,) for u in units[0]] if space.units == 1 else \
        [(a, b) for a in units[0] for b in units[1]]
    marks = {fingerprint(c.tree) for c in map(Candidate, genomes) if uses_x(c.tree)}
    return len(genomes), len(marks)


@pytest.mark.parametrize("space", [
    SearchSpace(unary=["x", "tanh", "relu", "scale"], binary=["add", "mul", "max"]),
    SearchSpace(unary=["x", "neg", "sigmoid", "scale"], binary=["add", "mul"], units=2,
                second_unary=["x", "tanh"], second_binary=["mul", "max"], constants=False),
])
def test_space_sizes_match_enumerating_every_genome(space):
    genomes, distinct = _brute_force(space)
    assert genome_count(space) == genomes
    assert distinct_functions(space) == distinct
    assert distinct < genomes  # x + x and 2 * x, max(z, z) and z, ...


def test_an_included_expression_is_told_as_a_genome_computing_the_same_function():
    space = SearchSpace(unary=["x", "tanh", "sigmoid", "scale"], binary=["mul", "sigmoid_mul"])
    for text in ("x * sigmoid(beta * x)", "tanh(x) * x", "2 * x * sigmoid(x)"):
        genome = genome_of(parse(text), space)
        assert in_space(genome, space) and genome.fingerprint == fingerprint(parse(text))
    assert genome_of(parse("x * sigmoid(x) + 1"), space) is None
    two = SearchSpace(unary=["x", "tanh"], binary=["mul", "max"], units=2)
    genome = genome_of(parse("x * tanh(x)"), two)
    assert in_space(genome, two) and genome.fingerprint == fingerprint(parse("x * tanh(x)"))


# --- fingerprints that separate learnable functions (issue 29) -----------------------------------

# beta on a dense grid (no exact 0, where safe division makes beta * x / beta differ from x)
DENSE_BETAS = np.concatenate([np.linspace(-3.0, 3.0, 24), [0.05, 0.3, 0.77, 1.0, 4.5]])
MERGED_BEFORE = [("max(beta * x, relu(x))", "beta * relu(x)"),
                 ("max(beta, relu(x))", "max(beta, x)"),
                 ("max(1.5 + x, beta + x)", "1.5 + x")]


def _dense_values(tree) -> np.ndarray:
    """The function on FINGERPRINT_POINTS at every beta of DENSE_BETAS (one row per beta)."""
    x = np.broadcast_to(FINGERPRINT_POINTS, (len(DENSE_BETAS), len(FINGERPRINT_POINTS)))
    params = {name: DENSE_BETAS[:, None] for name in param_names(tree)}
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(_np_eval(tree, x, params), float), x.shape)


def _dense_key(tree) -> bytes:
    """The dense values to 5 significant digits (tiny values as 0), as bytes to group by."""
    v = _dense_values(tree)
    v = np.where(np.abs(v) < 1e-9, 0.0, v)
    finite = np.isfinite(v)
    with np.errstate(all="ignore"):
        exponent = np.where(finite & (v != 0), np.floor(np.log10(np.abs(v))), 0.0)
        mantissa = np.where(finite, np.round(v / 10.0 ** exponent, 4), 0.0)
    return np.stack([mantissa, exponent, np.where(finite, 0.0, np.nan_to_num(np.sign(v), nan=2.0))]
                    ).tobytes()


@pytest.mark.parametrize("a, b", MERGED_BEFORE)
def test_learnable_functions_equal_only_for_some_beta_get_their_own_fingerprint(a, b):
    """These agree for every beta >= 1 (or <= 1.5), which two parameter values did not see."""
    assert fingerprint(parse(a)) != fingerprint(parse(b))
    assert not np.allclose(_dense_values(parse(a)), _dense_values(parse(b)), equal_nan=True)
    genome = genome_of(parse(a), SearchSpace())  # told to evolution as itself, not as b
    assert genome is not None
    assert np.allclose(_dense_values(genome.tree), _dense_values(parse(a)), equal_nan=True)
    assert not np.allclose(_dense_values(genome.tree), _dense_values(parse(b)), equal_nan=True)


def test_a_learnable_spelling_of_a_fixed_function_shares_its_fingerprint():
    assert fingerprint(parse("beta * x - beta * x + tanh(x)")) == fingerprint(parse("tanh(x)"))
    assert fingerprint(parse("beta1 * x + beta2")) != fingerprint(parse("beta * x + beta"))
    assert fingerprint(parse("beta1 * x + beta2")) == fingerprint(parse("beta * x + beta1"))


def test_default_space_fingerprints_match_equality_on_a_dense_grid_of_beta():
    """Every function of x of the default one-unit space (about 8,000): two share a
    fingerprint exactly when they are equal at every beta of a dense grid. With beta at 1
    and 1.37 only, 170 pairs of different functions shared one, and 525 pairs of one function
    (a learnable spelling of a fixed one) did not."""
    trees = {}
    for unit in one_unit_genomes(SearchSpace()):
        tree = normalize(unit.build(Var()))
        if uses_x(tree):
            trees.setdefault(canonical(tree), tree)
    by_mark: dict[str, set[bytes]] = {}
    by_dense: dict[bytes, set[str]] = {}
    for tree in trees.values():
        mark, dense = fingerprint(tree), _dense_key(tree)
        by_mark.setdefault(mark, set()).add(dense)
        by_dense.setdefault(dense, set()).add(mark)
    assert len(trees) > 8000 and any(param_names(t) for t in trees.values())
    merged = {m: d for m, d in by_mark.items() if len(d) > 1}
    split = {d: m for d, m in by_dense.items() if len(m) > 1}
    assert not merged and not split
    assert len(by_mark) == len(by_dense) > 6000
