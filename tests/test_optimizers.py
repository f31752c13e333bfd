"""Any Keras optimizer and loss by name, with arguments, clipping and a learning-rate schedule:
SGD and AdamW train through the CLI and are recorded, the cosine schedule's rates are the ones
CosineDecay promises (logged per epoch), clipping is applied before a non-Adam update, the
fused executor steps other optimizers as separate training would, and bad names and arguments
are refused in one line before anything is written."""

import math

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import tiny_config, write_config

from actsearch.cli import main
from actsearch.config import OptimizerConfig, ScheduleConfig, config_from_dict
from actsearch.data import load_dataset
from actsearch.executors.fused import branch_logs, build_fused_model
from actsearch.losses import LOSSES
from actsearch.optimizer import describe_optimizer, make_optimizer
from actsearch.training import build_compiled_model, steps_per_epoch
from actsearch.trials import plan_trials

MLP = {"architecture": "mlp", "depth": 1, "width": 8}
IMAGES = {"limit_train": 192, "limit_test": 64}  # 6 steps of 32 per epoch


def small(out, optimizer: dict, **training) -> dict:
    return tiny_config(out, model=MLP, data=IMAGES,
                       training={"batch_size": 32, "epochs": 2, "optimizer": optimizer,
                                 **training})


@pytest.mark.slow
def test_sgd_with_momentum_a_keras_loss_and_cosine_decay_through_the_cli(tmp_path):
    lr, alpha = 0.05, 0.1
    cfg = small(tmp_path / "out", {
        "name": "sgd", "learning_rate": lr, "options": {"momentum": 0.9, "nesterov": True},
        "schedule": {"name": "cosine", "alpha": alpha}}, loss="categorical_focal_crossentropy")
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0
    out = tmp_path / "out"
    recorded = yaml.safe_load((out / "config.yaml").read_text())["training"]
    assert recorded["optimizer"]["name"] == "sgd"
    assert recorded["optimizer"]["options"] == {"momentum": 0.9, "nesterov": True}
    assert recorded["optimizer"]["schedule"]["name"] == "cosine"
    assert recorded["loss"] == "categorical_focal_crossentropy"
    assert LOSSES.get("categorical_focal_crossentropy").description in (
        out / "summary.md").read_text()
    hist = pd.read_csv(next((out / "histories").glob("*.csv")))
    assert np.isfinite(hist["loss"]).all()
    # CosineDecay over 2 epochs x 6 steps: after epoch 1 halfway (cos(pi/2) = 0), then alpha
    halfway = lr * (alpha + (1 - alpha) * 0.5 * (1 + math.cos(math.pi * 6 / 12)))
    np.testing.assert_allclose(hist["learning_rate"], [halfway, lr * alpha], rtol=1e-6)


@pytest.mark.slow
def test_adamw_with_warmup_through_the_cli_records_its_rates(tmp_path):
    lr = 0.01
    cfg = small(tmp_path / "out", {
        "name": "adamw", "learning_rate": lr, "options": {"weight_decay": 0.05},
        "schedule": {"name": "cosine", "warmup_epochs": 1}})
    assert main(["run", str(write_config(tmp_path / "c.yaml", cfg)), "--quiet"]) == 0
    out = tmp_path / "out"
    recorded = yaml.safe_load((out / "config.yaml").read_text())["training"]["optimizer"]
    assert (recorded["name"], recorded["options"]) == ("adamw", {"weight_decay": 0.05})
    hist = pd.read_csv(next((out / "histories").glob("*.csv")))
    # warmup from 0 reaches lr after epoch 1, then the cosine down to 0 at the end
    np.testing.assert_allclose(hist["learning_rate"], [lr, 0.0], rtol=1e-6, atol=1e-12)


def test_each_fused_branch_logs_the_shared_learning_rate():
    logs = {"a_loss": 0.5, "val_a_loss": 0.6, "b_loss": 0.7, "learning_rate": 0.01}
    assert branch_logs(logs, "a", ["loss"]) == {"loss": 0.5, "val_loss": 0.6,
                                                 "learning_rate": 0.01}


@pytest.mark.slow
def test_fused_branches_step_sgd_with_a_schedule_as_separate_training(tmp_path):
    raw = small(tmp_path / "out", {"name": "sgd", "learning_rate": 0.1,
                                    "options": {"momentum": 0.9},
                                    "schedule": {"name": "exponential", "decay_rate": 0.5}})
    raw["model"]["activations"] = ["relu", "tanh"]
    cfg = config_from_dict(raw)
    data = load_dataset(cfg.data)
    steps = steps_per_epoch(cfg, data)
    x, y = data.x_train[:64], data.y_train[:64]  # two steps of 32
    trials = plan_trials(cfg)
    fused, branches = build_fused_model(cfg, trials, data.input_shape, data.num_classes, steps)
    assert type(fused.optimizer) is keras.optimizers.SGD
    alone = {}
    for trial in trials:
        keras.utils.set_random_seed(trial.seed)
        alone[trial.id] = build_compiled_model(cfg, trial.activation, data.input_shape,
                                               data.num_classes, steps)
    initial = {tid: branch.get_weights() for tid, branch in branches.items()}
    fused.fit(x, {tid: y for tid in branches}, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for tid, model in alone.items():
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        for a, b, start in zip(model.get_weights(), branches[tid].get_weights(), initial[tid],
                               strict=True):
            assert not np.allclose(a, start, rtol=1e-4, atol=1e-6), "no training happened"
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=tid)
    # ExponentialDecay: 0.5 per epoch of 6 steps, continuous; 2 steps taken
    np.testing.assert_allclose(float(fused.optimizer.learning_rate), 0.1 * 0.5 ** (2 / steps),
                               rtol=1e-6)


def run_steps(optimizer, grads, w0):
    w = keras.Variable(np.array(w0, dtype="float32"))
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(np.array(g, dtype="float32"))], [w])
    return np.asarray(w)


def test_clipvalue_limits_each_element_before_plain_sgd():
    cfg = OptimizerConfig(name="sgd", learning_rate=0.1, clipvalue=0.5)
    got = run_steps(make_optimizer(cfg), [[1e6, -1e6, 0.2]], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(got, [1.0 - 0.05, 1.0 + 0.05, 1.0 - 0.02], rtol=1e-6)


def test_clipnorm_rescales_the_huge_gradient_before_sgd_momentum():
    cfg = OptimizerConfig(name="sgd", learning_rate=0.1, clipvalue=None, clipnorm=1.0,
                          options={"momentum": 0.9})
    got = run_steps(make_optimizer(cfg), [[3e6, 4e6], [0.3, 0.4]], [0.0, 0.0])
    g1, g2 = np.array([0.6, 0.8]), np.array([0.3, 0.4])  # the first scaled to norm 1
    v1 = -0.1 * g1
    v2 = 0.9 * v1 - 0.1 * g2
    np.testing.assert_allclose(got, v1 + v2, rtol=1e-6)


@pytest.mark.parametrize(("name", "options", "fused"), [
    ("adam", {}, True), ("adam", {"amsgrad": True}, False), ("adamw", {}, False),
    ("rmsprop", {}, False)])
def test_the_fused_kernel_replaces_only_plain_adams_update(name, options, fused):
    optimizer = make_optimizer(OptimizerConfig(name=name, options=options))
    assert ("update_step" in vars(optimizer)) is fused


@pytest.mark.parametrize(("setting", "message"), [
    ("training.optimizer.name=adamm", "training.optimizer.name: unknown optimizer 'adamm' "
     "(did you mean adam?)"),
    ("training.optimizer.options={momentun: 0.9}", "SGD takes no argument 'momentun' (did you "
     "mean momentum?)"),
    ("training.optimizer.options={learning_rate: 0.1}", "training.optimizer.options."
     "learning_rate: set training.optimizer.learning_rate instead"),
    ("training.optimizer.options={momentum: 2}", "training.optimizer: SGD refuses its settings"),
    ("training.optimizer.schedule={name: cosin}", "training.optimizer.schedule.name: unknown "
     "learning-rate schedule 'cosin' (did you mean cosine?)"),
    ("training.optimizer.schedule={name: exponential}", "decay_rate is required by schedule "
     "exponential"),
    ("training.optimizer.schedule={name: cosine, decay_rate: 0.5}", "decay_rate does not apply "
     "to schedule cosine"),
    ("training.optimizer.schedule={warmup_epochs: 2}", "warmup_epochs must be 0 or more and "
     "less than training.epochs (2)"),
    ("training.optimizer.schedule={name: piecewise, boundaries: [1], factors: [1]}",
     "factors needs one more value than boundaries"),
    ("training.loss=kl_divergense", "training.loss: unknown loss 'kl_divergense' (did you mean "
     "kl_divergence?)"),
    ("training.loss=sparse_categorical_crossentropy", "unknown loss"),
])
def test_bad_optimizer_schedule_and_loss_settings_are_refused_in_one_line(
        tmp_path, capsys, setting, message):
    path = write_config(tmp_path / "c.yaml", small(tmp_path / "out", {"name": "sgd"}))
    assert main(["run", str(path), "--set", setting]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_cosine_schedule_matches_keras_cosine_decay_at_every_step():
    cfg = OptimizerConfig(learning_rate=0.2, schedule=ScheduleConfig(warmup_epochs=1, alpha=0.2))
    schedule = make_optimizer(cfg, steps_per_epoch=4, epochs=3)._learning_rate
    promised = keras.optimizers.schedules.CosineDecay(0.0, 8, 0.2, warmup_target=0.2,
                                                      warmup_steps=4)
    rates = [float(schedule(step)) for step in range(13)]
    np.testing.assert_allclose(rates, [float(promised(step)) for step in range(13)])
    assert rates[0] == 0.0 and math.isclose(rates[4], 0.2, rel_tol=1e-6)
    assert math.isclose(rates[12], 0.2 * 0.2, rel_tol=1e-6)


def test_the_optimizer_is_described_in_one_phrase_for_reports():
    assert describe_optimizer(OptimizerConfig()) == "Adam lr 0.001"
    sgd = OptimizerConfig(name="sgd", learning_rate=0.05, options={"momentum": 0.9},
                          schedule=ScheduleConfig(alpha=0.1))
    assert describe_optimizer(sgd) == "SGD (momentum=0.9) lr 0.05, cosine decay (alpha=0.1)"
