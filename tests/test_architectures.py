"""Your network: builders `build(act, input_shape, num_classes)`, the built-in mlp and vgg_small,
a user's builder by module:function (CLI) or as a function (API), and one-line refusals."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, tiny_config, write_config
from user_data import real_digits_32x32x3
from user_models import two_outputs

import actsearch
from actsearch.activations import ActivationOptions
from actsearch.checks import check
from actsearch.cli import main
from actsearch.config import config_from_dict
from actsearch.diagnostics import ClipRule, Probe
from actsearch.errors import UserError
from actsearch.executors.fused import branch_output
from actsearch.executors.ray.driver import RayExecutor
from actsearch.models import ActivationFactory, build_model, builder_scope


def build(architecture, activation="relu", shape=(28, 28, 1), classes=10, **settings):
    return build_model(architecture, activation, ActivationOptions(), shape, classes, **settings)


def test_activation_factory_names_fresh_layers_after_their_kernel_layer():
    act = ActivationFactory.from_name("selu")
    first, second = act("dense"), act("dense")
    assert first.name == "dense_act" and first is not second
    assert act.kernel_initializer == "lecun_normal"
    assert isinstance(act.dropout(0.3, name="d"), keras.layers.AlphaDropout)
    relu = ActivationFactory.from_name("relu")
    assert relu.kernel_initializer == "glorot_uniform"
    assert type(relu.dropout(0.3)) is keras.layers.Dropout


@pytest.mark.parametrize("architecture, shape, params", [
    ("article_cnn", (28, 28, 1), 1_199_882),
    ("mlp", (28, 28, 1), 784 * 128 + 128 + 2 * (128 * 128 + 128) + 128 * 10 + 10),
    ("vgg_small", (32, 32, 3), 591_274),
])
def test_relu_and_selu_networks_differ_only_where_the_activation_says(architecture, shape,
                                                                      params):
    relu, selu = build(architecture, "relu", shape), build(architecture, "selu", shape)
    assert relu.count_params() == selu.count_params() == params
    assert [la.name for la in relu.layers] == [la.name for la in selu.layers]
    for a, b in zip(relu.layers, selu.layers, strict=True):
        if a.name.endswith("_act"):
            continue
        ca, cb = a.get_config(), b.get_config()
        if "dropout" in a.name:
            assert (type(a), type(b)) == (keras.layers.Dropout, keras.layers.AlphaDropout)
            assert ca["rate"] == cb["rate"]
            continue
        if "kernel_initializer" in ca and a.name != "output":
            assert (ca["kernel_initializer"]["class_name"],
                    cb["kernel_initializer"]["class_name"]) == ("GlorotUniform", "LecunNormal")
        drop = ("kernel_initializer", "name")
        assert ({k: v for k, v in ca.items() if k not in drop}
                == {k: v for k, v in cb.items() if k not in drop}), a.name


def test_mlp_depth_and_width_and_a_named_activation_after_every_hidden_layer():
    model = build("mlp", depth=5, width=16, classes=3)
    names = [layer.name for layer in model.layers]
    hidden = [f"dense{i}" for i in range(1, 6)]
    assert names == ["flatten", *[n for h in hidden for n in (h, f"{h}_act")], "output"]
    assert all(model.get_layer(h).units == 16 for h in hidden)
    assert model.output_shape == (None, 3)


def test_vgg_small_has_two_blocks_of_two_convolutions():
    model = build("vgg_small", shape=(32, 32, 3), classes=100)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.name, c.filters, c.kernel_size) for c in convs] == [
        ("conv1_1", 32, (3, 3)), ("conv1_2", 32, (3, 3)),
        ("conv2_1", 64, (3, 3)), ("conv2_2", 64, (3, 3))]
    names = [layer.name for layer in model.layers]
    for kernel in [*[c.name for c in convs], "dense"]:
        assert names[names.index(kernel) + 1] == f"{kernel}_act"
    assert model.output_shape == (None, 100)


@pytest.mark.parametrize("architecture, settings, message", [
    ("user_models:not_a_model", {}, "returned str, not a keras.Model"),
    ("user_models:two_outputs", {}, "1 inputs and 2 outputs"),
    ("user_models:mnist_only", {}, "takes inputs of shape (28, 28, 1), the data's images are "
                                   "(32, 32, 3)"),
    ("user_models:ten_classes", {}, "outputs shape (10,), the data has 5 classes"),
    ("user_models:nowhere", {}, "has no attribute 'nowhere'"),
    ("no_such_module:build", {}, "cannot import no_such_module"),
    ("mlq", {}, "did you mean mlp"),
    ("article_cnn", {"depth": 4}, "model.depth is set but model.architecture article_cnn does "
                                  "not take depth"),
])
def test_bad_models_are_refused_in_one_line(architecture, settings, message):
    with pytest.raises(UserError) as err:
        build(architecture, shape=(32, 32, 3), classes=5, **settings)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "model.architecture" in str(err.value) or "model.depth" in str(err.value)


def test_a_subclassed_model_is_checked_and_probed_for_gradients():
    model = build("user_models:subclassed", shape=(8, 8, 1), classes=3)
    assert model.built and model.count_params() == 64 * 16 + 16 + 16 * 3 + 3
    x = np.random.default_rng(0).random((16, 8, 8, 1), dtype="float32")
    y = np.eye(3, dtype="float32")[np.arange(16) % 3]
    rows = Probe(model, x, y, keras.losses.categorical_crossentropy, ClipRule()).measure(0)
    assert [r["layer"] for r in rows] == ["hidden", "output"]
    assert all(r["grad_norm"] > 0 for r in rows)


def _digits_npz(tmp_path):
    (x_train, y_train), (x_test, y_test) = real_digits_32x32x3()
    path = tmp_path / "digits.npz"
    np.savez(path, x_train=x_train[:300], y_train=y_train[:300], x_test=x_test[:100],
             y_test=y_test[:100])
    return path


def test_mlp_through_the_cli_on_32x32x3_digits_with_diagnostics_per_depth(tmp_path, capsys):
    out = tmp_path / "out"
    cfg = tiny_config(out, data={"path": str(_digits_npz(tmp_path)), "limit_train": 128,
                                 "limit_test": 64},
                      model={"architecture": "mlp", "depth": 4, "width": 32,
                             "activations": ["sigmoid", "relu"]},
                      diagnostics={"enabled": True, "probe_size": 64})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0, \
        capsys.readouterr().err
    for trial in ("sigmoid", "relu"):
        record = json.loads(next((out / "trials").glob(f"{trial}*.json")).read_text())
        assert record["params"] == 3072 * 32 + 32 + 3 * (32 * 32 + 32) + 32 * 5 + 5
        diag = pd.read_csv(next((out / "diagnostics").glob(f"{trial}*.csv")))
        assert sorted(set(diag["layer"])) == ["dense1", "dense2", "dense3", "dense4", "output"]
        assert diag.loc[diag["layer"] == "dense1", "act_std"].notna().all()
        assert (diag["grad_norm"] > 0).all()
    env = json.loads((out / "env.json").read_text())
    assert env["data"]["input_shape"] == [32, 32, 3] and env["data"]["classes"] == 5


def test_vgg_small_through_the_cli_saves_a_model_that_reloads(tmp_path, capsys):
    out = tmp_path / "out"
    cfg = tiny_config(out, data={"path": str(_digits_npz(tmp_path)), "limit_train": 128,
                                 "limit_test": 64},
                      model={"architecture": "vgg_small", "activations": ["selu"]},
                      output={"save_models": True})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0, \
        capsys.readouterr().err
    model = keras.models.load_model(next((out / "models").glob("*.keras")))
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 5)
    assert model.count_params() == 591_274 - 128 * 10 - 10 + 128 * 5 + 5
    summary = pd.read_csv(out / "summary.csv")
    assert summary["status"].tolist() == ["ok"]


def test_user_builder_by_module_function_with_a_data_loader_through_the_cli(tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    out = tmp_path / "out"
    cfg = tiny_config(out, data={"path": None, "loader": "user_data:digits_32x32x3",
                                 "limit_train": 200, "limit_test": 100},
                      model={"architecture": "user_models:tiny_cnn",
                             "activations": ["relu", "user_activations:squareplus"]},
                      diagnostics={"enabled": True, "probe_size": 32})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0, \
        capsys.readouterr().err
    for record in map(json.loads, map(lambda p: p.read_text(), (out / "trials").glob("*.json"))):
        assert record["status"] == "ok" and record["params"] == 3 * 9 * 8 + 8 + 8 * 5 + 5
    diag = pd.concat(pd.read_csv(p) for p in (out / "diagnostics").glob("*.csv"))
    assert set(diag["layer"]) == {"conv", "output"}
    assert diag.loc[diag["layer"] == "conv", "dead_fraction"].notna().all()


def test_a_refused_model_is_one_line_on_the_cli_and_claims_no_folder(tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))
    out = tmp_path / "out"
    cfg = tiny_config(out, model={"architecture": "user_models:two_outputs"},
                      execution={"executor": "fused"})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg))]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "2 outputs" in err
    assert not out.exists()


def test_fused_refuses_a_model_it_cannot_branch_in_one_line():
    cfg = config_from_dict({"model": {"architecture": "user_models:two_outputs"}})
    two = two_outputs(ActivationFactory.from_name("relu"), (28, 28, 1), 10)
    with pytest.raises(UserError) as err:
        branch_output(cfg, two, keras.Input(shape=(28, 28, 1)))
    assert "fused cannot branch" in str(err.value) and "\n" not in str(err.value)


def test_builder_function_through_the_api_locally_and_fused(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))

    def small_mlp(act, input_shape, num_classes):  # defined here: not importable elsewhere
        return keras.Sequential([
            keras.Input(shape=input_shape), keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(16, kernel_initializer=act.kernel_initializer, name="hidden"),
            act("hidden"),
            keras.layers.Dense(num_classes, activation="softmax", name="output")])

    params = 784 * 16 + 16 + 16 * 10 + 10
    for executor in ("local", "fused"):
        out = tmp_path / executor
        cfg = tiny_config(out, model={"activations": ["relu", "elu"]},
                          execution={"executor": executor})
        res = actsearch.run(cfg, model=small_mlp, quiet=True)
        assert res.summary["status"].tolist() == ["ok", "ok"]
        assert res.config.model.architecture.endswith(":test_builder_function_through_the_api_"
                                                      "locally_and_fused.<locals>.small_mlp")
        records = [json.loads(p.read_text()) for p in (out / "trials").glob("*.json")]
        assert [r["params"] for r in records] == [params, params]


def test_ray_refuses_a_builder_its_workers_cannot_import(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests"))

    def local_builder(act, input_shape, num_classes):
        raise AssertionError("never built")

    ray = {"execution": {"executor": "ray"}}
    with builder_scope(local_builder) as name:
        cfg = config_from_dict({**ray, "model": {"architecture": name}})
        with pytest.raises(UserError) as err:
            RayExecutor().check(cfg)
        assert "execution.executor ray" in str(err.value) and "module:function" in str(err.value)
        assert "\n" not in str(err.value)
    importable = config_from_dict({**ray, "model": {"architecture": "user_models:tiny_cnn"}})
    assert check(importable) is importable
    with pytest.raises(UserError, match="cannot import"):
        check(config_from_dict({**ray, "model": {"architecture": "gone_module:build"}}))
