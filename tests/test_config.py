import pytest

from actsearch.bundled import bundled_configs
from actsearch.checks import check
from actsearch.cli import main
from actsearch.config import Config, load_config
from actsearch.errors import UserError

MNIST, SMOKE = bundled_configs()["mnist"], bundled_configs()["smoke"]


def test_defaults_are_the_articles_settings():
    cfg = load_config(MNIST)
    t = cfg.training
    assert (t.epochs, t.batch_size, t.loss) == (100, 128, "binary_crossentropy")
    opt = t.optimizer
    assert (opt.name, opt.learning_rate, opt.clipvalue) == ("adam", 0.001, 0.5)
    assert cfg.model.activations == ["sigmoid", "relu", "elu", "leaky-relu", "selu", "gelu-tanh"]
    assert cfg.data.validation == "test" and cfg.model.leaky_relu_slope == 0.2
    assert isinstance(Config(), Config)


def test_overrides_are_parsed_as_yaml():
    cfg = load_config(SMOKE, [
        "model.activations=[relu,gelu]", "training.epochs=3",
        "training.optimizer.clipvalue=null", "training.optimizer.clipnorm=1"])
    assert cfg.model.activations == ["relu", "gelu"]
    assert cfg.training.epochs == 3
    assert cfg.training.optimizer.clipvalue is None and cfg.training.optimizer.clipnorm == 1.0


@pytest.mark.parametrize("override, message", [
    ("training.epoch=3", "unknown config key training.epoch (did you mean training.epochs?)"),
    ("training.epochs=0", "training.epochs must be at least 1"),
    ("training.batch_size=0", "training.batch_size must be at least 1"),
    ("training.epochs=three", "training.epochs must be an integer, got 'three'"),
    ("model.activations=[relu,swishy]", "unknown activation 'swishy' (did you mean swish?)"),
    ("data.dataset=cifar", "data.dataset: unknown data set 'cifar'"),
    ("training.loss=mean_squared_eror", "training.loss: unknown loss 'mean_squared_eror' "
                                         "(did you mean mean_squared_error?)"),
    ("objective.metric=accuracy", "objective.metric: unknown value 'accuracy'"),
    ("objective.mode=up", "objective.mode: unknown value 'up'"),
    ("training.optimizer.clipnorm=1", "set only one of training.optimizer"),
    ("training.seeds=[]", "training.seeds is empty"),
    ("plots.metric=acc", "plots.metric: unknown value 'acc'"),
    ("execution.executor=dask", "execution.executor: unknown executor 'dask'"),
    ("execution.address=localhost", "execution.address must be empty (a local Ray started "
                                    "here), auto, ray://HOST:PORT or HOST:PORT, got 'localhost'"),
    ("execution.resources_per_trial.cpu=0", "execution.resources_per_trial.cpu must be more "
                                            "than 0"),
    ("execution.resources_per_trial.gpu=-1", "execution.resources_per_trial.gpu must be 0 or "
                                             "more"),
    ("execution.resources_per_trial.gpu=1.5", "a share above 1 must be a whole number, got 1.5"),
    ("execution.resources_per_trial.cpus=2", "unknown config key execution.resources_per_trial"
                                             ".cpus (did you mean execution.resources_per_trial"
                                             ".cpu?)"),
    ("execution.max_retries=-1", "execution.max_retries must be 0 or more"),
])
def test_bad_values_are_refused_with_a_clear_message(override, message):
    with pytest.raises(UserError, match=None) as err:
        check(load_config(SMOKE, [override]))
    assert message in str(err.value)


def test_execution_keys_for_a_cluster():
    cfg = load_config(SMOKE, [
        "execution.executor=local", "execution.address=ray://head.example:10001",
        "execution.resources_per_trial={cpu: 2, gpu: 0.25}", "execution.max_retries=0"])
    e = cfg.execution
    assert (e.address, e.resources_per_trial.cpu, e.resources_per_trial.gpu, e.max_retries) == (
        "ray://head.example:10001", 2.0, 0.25, 0)
    assert Config().execution.max_retries == 2 and Config().execution.address is None
    for address in ("auto", "10.0.0.5:6379", "", None):
        load_config(SMOKE, values={"execution.address": address})


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntraining: [epochs: 1\n")
    cases = [["run", str(tmp_path / "missing.yaml")], ["run", str(bad)],
             ["run", "smoke", "--set", "training.epochs=-1"],
             ["run", "smoke", "--set", "data.path=" + str(tmp_path)],
             ["run", "smoke", "--set", "model.activations=[relu,relu]"]]
    for argv in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("actsearch: error: "), err
    out = str(tmp_path / "out")
    argv = ["run", "smoke", "--out", out, "--set", f"data.path={tmp_path}"]
    assert main(argv) == 2
    assert "lacks train-images-idx3-ubyte.gz" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing claimed when the data is bad


def test_config_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="must hold a mapping"):
        load_config(path)
