"""The batch engine compiles each program once per process: a last batch smaller than K and a
later rung of the same network reuse it (the spare copies repeat a candidate and change no
one's numbers), and a second search in the same process compiles nothing new (no retrace,
and nothing drops TensorFlow's compiled functions: keras.backend.clear_session() would)."""

import pytest
from conftest import tiny_config
from tensorflow.python.eager import context

from actsearch.config import config_from_dict
from actsearch.data import load_dataset
from actsearch.search import engine, run_search
from actsearch.search.loop import search_config
from actsearch.search.space import Candidate, CoreUnit, UnaryChoice

SEED = 2


def _unit(binary, left, right):
    return Candidate((CoreUnit(binary, UnaryChoice(*left), UnaryChoice(*right)),))


THREE = [_unit("add", ("tanh",), ("relu",)), _unit("mul", ("sin",), ("x",)),
         _unit("sigmoid_mul", ("scale", "beta"), ("x",))]


def _compiled() -> tuple:
    """Everything that grows when the engine builds or traces a program."""
    return (engine.programs_compiled(), dict(engine.TRACES),
            engine._genome_function.experimental_get_tracing_count())


@pytest.fixture
def kernel_cache_clears(monkeypatch):
    """How often TensorFlow's compiled functions are dropped (keras.backend.clear_session()
    and tf.random.set_seed do it)."""
    calls = []
    original = context.pywrap_tfe.TFE_ContextClearCaches

    def counted(handle):
        calls.append(1)
        return original(handle)
    monkeypatch.setattr(context.pywrap_tfe, "TFE_ContextClearCaches", counted)
    return calls


def test_a_smaller_batch_and_another_rung_reuse_the_program_with_the_same_numbers(tmp_path):
    # a network no other test uses, so its program is compiled here
    raw = tiny_config(tmp_path, model={"architecture": "mlp", "depth": 2, "width": 12},
                      data={"validation": "split", "limit_train": 192},
                      training={"epochs": 2, "batch_size": 32, "seeds": [SEED]})
    cfg = config_from_dict(raw)
    data = load_dataset(cfg.data)
    before = _compiled()
    first = engine.train_candidates(THREE, cfg, data, SEED, log=lambda _: None)
    after_first = _compiled()
    assert after_first[0] == before[0] + 1  # K = 4 for three candidates
    # one candidate (K would be 1) at a rung of one epoch: the K = 4 program, padded
    rung = config_from_dict({**raw, "training": {**raw["training"], "epochs": 1}})
    alone = engine.train_candidates(THREE[1:2], rung, data, SEED, log=lambda _: None)
    # and a rung on more images
    more = config_from_dict({**raw, "data": {**raw["data"], "limit_train": 256}})
    engine.train_candidates(THREE[:2], more, load_dataset(more.data), SEED, log=lambda _: None)
    assert _compiled() == after_first
    assert len(alone) == 1 and alone[0].status == first[1].status == "ok"
    columns = ["loss", "categorical_accuracy", "val_loss", "val_categorical_accuracy"]
    assert alone[0].history[columns].iloc[0].to_numpy() == pytest.approx(
        first[1].history[columns].iloc[0].to_numpy(), rel=1e-5, abs=1e-6)


@pytest.mark.slow
def test_a_second_search_in_one_process_compiles_nothing_new(tmp_path, kernel_cache_clears):
    """Two searches of the same network: 5 candidates in batches of 3 (the last batch of 2)
    through two rungs of the same network (the second on more images, its few promoted
    candidates padded into the first's program)."""
    def config(out):
        return search_config(tiny_config(
            out, model={"architecture": "mlp", "depth": 2, "width": 20},
            data={"validation": "split", "validation_split": 0.25},
            search={"algorithm": "random", "seed": 4, "candidates": 5, "batch": 3,
                    "rungs": [{"epochs": 1, "limit_train": 128},
                              {"epochs": 1, "limit_train": 192}],
                    "keep": 0.5, "confirm": {"top": 0},
                    # the fidelity retests group all 5 candidates: a larger K than a batch's
                    "fidelity": {"retest_random": 0, "retest_top": 0, "probes": 0}}))
    before = _compiled()
    first = run_search(config(tmp_path / "a"), log=lambda _: None)
    assert kernel_cache_clears == []
    after_first = _compiled()
    assert after_first[0] == before[0] + 1, "one program for every batch and rung"
    assert first.leaderboard["val_categorical_accuracy_rung1"].notna().sum() >= 1
    second = run_search(config(tmp_path / "b"), log=lambda _: None)
    assert _compiled() == after_first
    assert kernel_cache_clears == []
    assert len(second.leaderboard) == len(first.leaderboard)


def test_on_a_gpu_k_is_what_the_device_memory_holds(tmp_path, monkeypatch):
    """No GPU here: the device's memory is given, the choice of K is what is tested (on a CPU
    K stays at most MAX_K, within MEMORY_MB)."""
    cfg = config_from_dict(tiny_config(tmp_path, model={"architecture": "mlp", "depth": 2,
                                                        "width": 12}))
    data = load_dataset(cfg.data)
    monkeypatch.delenv("ACTSEARCH_ENGINE_MEMORY_MB", raising=False)
    chosen = {}
    for device_mb in (None, 16_000.0, 4.0):
        monkeypatch.setattr(engine, "_FITS", {})
        monkeypatch.setattr(engine, "gpu_memory_mb", lambda mb=device_mb: mb)
        chosen[device_mb] = engine.batch_size_for(cfg, data, 1000)
    assert chosen[None] == engine.MAX_K
    assert chosen[16_000.0] == engine.MAX_K_GPU > engine.MAX_K
    assert 1 <= chosen[4.0] < engine.MAX_K  # a small device: fewer copies than a CPU's
