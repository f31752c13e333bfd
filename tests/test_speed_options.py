"""The execution speed levers: off by default, validated, handed to Keras, and mixed
precision (which changes the numbers) is not resumed across."""

import pandas as pd
import pytest
from conftest import tiny_config, write_config

from actsearch.checks import check
from actsearch.cli import main
from actsearch.config import Config, config_from_dict
from actsearch.errors import UserError
from actsearch.storage import same_experiment
from actsearch.training import build_compiled_model


def test_levers_are_off_by_default_and_reach_the_compiled_model(tmp_path):
    e = config_from_dict(tiny_config(tmp_path)).execution
    assert (e.steps_per_execution, e.jit_compile, e.mixed_precision) == (1, False, False)
    fast = config_from_dict(tiny_config(tmp_path, execution={"steps_per_execution": 4,
                                                             "mixed_precision": True}))
    model = build_compiled_model(fast, "relu")
    assert model.steps_per_execution == 4 and model.jit_compile is False
    assert model.dtype_policy.name.startswith("mixed_")
    plain = build_compiled_model(config_from_dict(tiny_config(tmp_path)), "relu")
    assert plain.dtype_policy.name == "float32"  # the global policy is set back


@pytest.mark.parametrize("values, message", [
    ({"steps_per_execution": 0}, "execution.steps_per_execution must be at least 1"),
    ({"jit_compile": "yes"}, "execution.jit_compile must be true or false"),
    ({"executor": "fuse"}, "did you mean fused"),
])
def test_bad_levers_are_one_line_errors(tmp_path, values, message):
    with pytest.raises(UserError, match=message):
        check(config_from_dict(tiny_config(tmp_path, execution=values)))


def test_mixed_precision_is_another_experiment_other_levers_are_not():
    base = Config().to_dict()
    for key, value, same in [("mixed_precision", True, False), ("steps_per_execution", 8, True),
                             ("jit_compile", True, True), ("executor", "fused", True)]:
        other = Config().to_dict()
        other["execution"][key] = value
        assert same_experiment(base, other) is same, key
    older = Config().to_dict()
    del older["execution"]["mixed_precision"]  # folders written before the key existed
    assert same_experiment(base, older)


@pytest.mark.slow
def test_a_mixed_precision_run_trains_and_measures_in_float32(tmp_path):
    out = tmp_path / "out"
    cfg = tiny_config(out, execution={"mixed_precision": True, "steps_per_execution": 2},
                      model={"architecture": "mlp", "depth": 2, "width": 32},
                      diagnostics={"enabled": True})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0
    diag = pd.read_csv(out / "diagnostics" / "relu-seed0.csv")
    hidden = diag[diag["layer"] != "output"]  # the layers with an activation after them
    assert hidden["act_std"].gt(0).all() and diag["grad_norm"].gt(0).all()
    assert pd.read_csv(out / "histories" / "relu-seed0.csv")["loss"].notna().all()


def test_the_fused_adam_kernel_is_part_of_the_experiment():
    base = Config().to_dict()
    keras_update = Config().to_dict()
    keras_update["training"]["optimizer"]["fused_kernel"] = False
    assert not same_experiment(base, keras_update)
    older = Config().to_dict()
    del older["training"]["optimizer"]["fused_kernel"]  # written with Keras' own update
    assert same_experiment(keras_update, older) and not same_experiment(base, older)


def test_a_folder_written_before_newer_keys_existed_still_resumes():
    """Keys added since (model.depth, data.loader, output.tensorboard, search, ...) count as
    their defaults; an old restore-best run watched the validation loss, which the current
    default objective does not, so that one is another experiment."""
    base = Config().to_dict()
    older = {k: v for k, v in base.items() if k not in ("objective", "search")}
    older["model"] = {k: v for k, v in base["model"].items() if k not in ("depth", "width")}
    older["data"] = {k: v for k, v in base["data"].items() if k != "loader"}
    assert same_experiment(older, base)
    older["training"] = {**base["training"], "restore_best": True}
    newer = {**base, "training": {**base["training"], "restore_best": True}}
    assert not same_experiment(older, newer)
    newer["objective"] = {"metric": "loss", "mode": "min"}
    assert same_experiment(older, newer)
