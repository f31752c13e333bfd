"""Speed of actsearch against the article's own training loop, on the same data and math.

    python benchmarks/speed.py [--data DIR] [--limit N] [--epochs E] [--rounds R] [--fused]

Each variant runs in a fresh process (actsearch turns on TensorFlow op determinism, which
is process-wide), and the variants take turns (A, B, A, B, ...) so a disturbance from
other work on the machine hits both alike; ratios are medians of the per-round ratios.
A variant's time is one whole trial: build, compile, E epochs with validation on the test
set, and the final test evaluation; data loading is outside it.

  article   model.fit on numpy arrays as the article wrote it: Sequential CNN, batch 128,
            Adam(clipvalue=0.5), binary_crossentropy, validation_data=the test set,
            verbose=1 (its progress bar goes to a pipe here)
  actsearch the local executor as `actsearch run` calls it in a log (verbose=2), with all
            its bookkeeping: per-epoch history, diagnostics probe, Keras backup each epoch,
            NaN guard, trial record
  local6 / fused6 (--fused)  six activations, one after another or as one fused model

Every epoch of every variant is timed too (a callback added to each `fit`), and printed as
cores busy = process CPU time / wall time: the issue's target is at least 1.8 of the 2
cores in every epoch after the first, so that a sweep's duration is predictable.

It also prints the training FLOPs per image (from the model's layers) and the fraction of
the machine's float32 matmul peak, measured in this run, that each variant reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"
sys.path.insert(0, str(ROOT))  # this checkout's actsearch, not another installed one
SIX = ["sigmoid", "relu", "elu", "leaky-relu", "selu", "gelu-tanh"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the IDX .gz files")
    p.add_argument("--limit", type=int, default=None, help="first N training images")
    p.add_argument("--test-limit", type=int, default=None, help="first N test images")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="turns of each variant")
    p.add_argument("--variants", default="article,actsearch",
                   help="comma-separated, from article, actsearch, local6, fused6; an "
                        "actsearch one may add overrides: actsearch@execution.steps_per_"
                        "execution=8@diagnostics.enabled=false; article@deterministic "
                        "is the article's loop with TensorFlow op determinism on; any may add "
                        "@env:NAME=VALUE (e.g. @env:TF_NUM_INTEROP_THREADS=1)")
    p.add_argument("--fused", action="store_true", help="also local6 and fused6")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for the actsearch variants (e.g. "
                        "execution.steps_per_execution=8)")
    p.add_argument("--profile", action="store_true",
                   help="only break one actsearch trial's epochs down by where time goes")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.profile:
        return profile_epochs(args)
    if args.worker:
        print("RESULT " + json.dumps(run_variant(args.worker, args)), flush=True)
        return 0
    variants = args.variants.split(",") + (["local6", "fused6"] if args.fused else [])
    peak, cpu_peak = matmul_peak_flops()
    flops = train_flops_per_image()
    print(f"machine: {machine()}")
    print(f"training FLOPs per image: {flops / 1e6:.1f} M; float32 matmul peak: "
          f"{peak / 1e9:.1f} GFLOP/s ({cpu_peak / 1e9:.1f} GFLOP per CPU second)")
    rates: dict[str, list[float]] = {v: [] for v in variants}  # images per wall second
    cpu_rates: dict[str, list[float]] = {v: [] for v in variants}  # images per CPU second
    later: dict[str, list[float]] = {v: [] for v in variants}  # cores busy, epochs 2, 3, ...
    for r in range(1, args.rounds + 1):
        for v in variants:
            result = in_fresh_process(v, args)
            rates[v].append(result["images"] / result["seconds"])
            cpu_rates[v].append(result["images"] / result["cpu_seconds"])
            busy = result["cores_busy"]
            later[v] += busy[1:]
            print(f"round {r} {v} {rates[v][-1]:8.1f} images/s per trial "
                  f"({result['seconds']:.1f} s wall, {result['cpu_seconds']:.1f} s CPU); "
                  f"cores busy per epoch {' '.join(f'{b:.2f}' for b in busy)}", flush=True)
        again = matmul_peak_flops()  # the best the machine showed in this run
        peak, cpu_peak = max(peak, again[0]), max(cpu_peak, again[1])
    print(f"\nmedian over {args.rounds} rounds (peak {peak / 1e9:.1f} GFLOP/s, "
          f"{cpu_peak / 1e9:.1f} GFLOP per CPU second):")
    for v in variants:
        rate, cpu_rate = statistics.median(rates[v]), statistics.median(cpu_rates[v])
        print(f"  {v} {rate:8.1f} images/s per trial, {rate * flops / peak:6.1%} of peak; "
              f"{cpu_rate:8.1f} images per CPU second, {cpu_rate * flops / cpu_peak:6.1%} of "
              f"the peak per CPU second")
        if later[v]:
            print(f"    epochs after the first: {sum(b >= 1.8 for b in later[v])} of "
                  f"{len(later[v])} kept at least 1.8 cores busy (lowest {min(later[v]):.2f})")
    pairs = [(v, "article") for v in variants if v != "article" and v.startswith(("actsearch",
                                                                                  "article"))]
    for a, b in [*pairs, ("fused6", "local6")]:
        if a in rates and b in rates:
            print(f"  ratio {a}/{b}: {median_ratio(rates[a], rates[b]):.3f} by wall time, "
                  f"{median_ratio(cpu_rates[a], cpu_rates[b]):.3f} by CPU time "
                  f"(medians of per-round ratios)")
    return 0


def median_ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def in_fresh_process(variant: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", variant, "--data", args.data,
           "--epochs", str(args.epochs)]
    for flag, value in (("--limit", args.limit), ("--test-limit", args.test_limit)):
        if value is not None:
            cmd += [flag, str(value)]
    for item in args.set:
        cmd += ["--set", item]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if variant.startswith("article"):  # TensorFlow's default allocator, not actsearch's
        env["TF_CPU_ALLOCATOR_USE_BFC"] = "false"
    for item in variant.split("@")[1:]:  # env:NAME=VALUE: a runtime setting to compare
        if item.startswith("env:"):
            name, _, value = item[4:].partition("=")
            env[name] = value
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.exit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def run_variant(variant: str, args: argparse.Namespace) -> dict:
    from actsearch.config import DataConfig
    from actsearch.data import load_dataset

    data = load_dataset(DataConfig(path=args.data, limit_train=args.limit,
                                   limit_test=args.test_limit))
    import actsearch.executors  # noqa: F401  imports are paid once per sweep, not per trial
    import actsearch.experiment  # noqa: F401

    busy = time_every_epoch()
    started, cpu = time.perf_counter(), cpu_seconds()
    if variant.startswith("article"):
        if "@deterministic" in variant:  # what actsearch's default determinism costs
            import keras
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
            keras.utils.set_random_seed(0)  # determinism needs seeded random ops
        article_loop(data, args.epochs)
        trials = 1
    else:
        trials = actsearch_run(variant, data, args)
    return {"seconds": time.perf_counter() - started, "cpu_seconds": cpu_seconds() - cpu,
            "images": len(data.x_train) * args.epochs * trials, "cores_busy": busy}


def time_every_epoch() -> list[float]:
    """Adds an epoch timer to every `Model.fit` of this process (the article's loop and
    actsearch's executors alike); returns the list it fills with each epoch's cores busy."""
    import keras

    busy: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = (time.perf_counter(), cpu_seconds())

        def on_epoch_end(self, epoch, logs=None):
            busy.append((cpu_seconds() - self.start[1]) / (time.perf_counter() - self.start[0]))

    fit = keras.Model.fit

    def timed_fit(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=[*(callbacks or []), EpochTimer()], **kwargs)

    keras.Model.fit = timed_fit
    return busy


def cpu_seconds() -> float:
    """CPU time of this process, all threads: what the work cost, whatever else ran."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def article_loop(data, epochs: int) -> None:
    """The article's code, as literally as Keras 3 allows (input_shape -> keras.Input)."""
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(clipvalue=0.5),
                  metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, batch_size=128, epochs=epochs, verbose=1,
              validation_data=(data.x_test, data.y_test))
    model.evaluate(data.x_test, data.y_test, verbose=0)


def actsearch_run(variant: str, data, args: argparse.Namespace) -> int:
    """The executor as `actsearch run` calls it, bookkeeping on; returns the trial count."""
    import tensorflow as tf

    from actsearch.config import apply_override, config_from_dict
    from actsearch.executors import get_executor
    from actsearch.storage import ResultsDir
    from actsearch.trials import plan_trials

    name, *items = variant.split("@")
    overrides = [item for item in items if not item.startswith("env:")]
    activations = SIX if name in ("local6", "fused6") else ["relu"]
    executor = "fused" if name == "fused6" else "local"
    with tempfile.TemporaryDirectory() as out:
        raw = {"name": "bench", "data": {"path": args.data},
               "model": {"activations": activations},
               "training": {"epochs": args.epochs, "batch_size": 128},
               "execution": {"executor": executor}, "output": {"dir": out}}
        for item in [*args.set, *overrides]:
            apply_override(raw, item)
        cfg = config_from_dict(raw)
        if cfg.training.deterministic:
            tf.config.experimental.enable_op_determinism()  # as run_experiment does
        results = ResultsDir(out)
        results.prepare(cfg, overwrite=False)
        get_executor(executor).run(plan_trials(cfg), cfg, data, results, verbose=2,
                                   log=lambda line: None)  # verbose as `actsearch run` in a log
    return len(activations)


def profile_epochs(args: argparse.Namespace) -> int:
    """Where an actsearch epoch's time goes: each callback's epoch hooks, the validation
    pass, and the rest (the training steps), summed over the epochs after the first."""
    import keras
    import tensorflow as tf

    from actsearch.config import DataConfig, config_from_dict
    from actsearch.data import load_dataset
    from actsearch.storage import ResultsDir
    from actsearch.training import build_compiled_model, trial_callbacks
    from actsearch.trials import Trial

    data = load_dataset(DataConfig(path=args.data, limit_train=args.limit,
                                   limit_test=args.test_limit))
    tf.config.experimental.enable_op_determinism()
    with tempfile.TemporaryDirectory() as out:
        cfg = config_from_dict({"data": {"path": args.data}, "output": {"dir": out},
                                "training": {"epochs": args.epochs}})
        results = ResultsDir(out)
        trial = Trial("relu", 0)
        keras.utils.set_random_seed(0)
        model = build_compiled_model(cfg, "relu")
        own = trial_callbacks(trial, cfg, data, results)  # as train_trial builds them
        parts = [*own, keras.callbacks.BackupAndRestore(results.backup_path(trial.id) / "b",
                                                        double_checkpoint=True),
                 keras.callbacks.TerminateOnNaN()]
        clock = EpochClock(parts)
        model.fit(data.x_train, data.y_train, batch_size=128, epochs=args.epochs, verbose=0,
                  validation_data=(data.x_val, data.y_val),
                  callbacks=[clock.validation, *parts])
    total = sum(clock.epoch_seconds)
    print(f"{len(clock.epoch_seconds)} epochs after the first, {total:.1f} s:")
    spent = 0.0
    for name, seconds in clock.report().items():
        spent += seconds
        print(f"  {name:28s} {seconds:7.2f} s {seconds / total:6.1%}")
    print(f"  {'training steps (the rest)':28s} {total - spent:7.2f} s "
          f"{(total - spent) / total:6.1%}")
    flops = layer_train_flops()
    print("training arithmetic by layer: " + ", ".join(
        f"{name} {f / sum(flops.values()):.1%}" for name, f in flops.items()))
    return 0


class EpochClock:
    """Times every epoch after the first (which traces), and inside it the given callbacks'
    epoch hooks (wrapped in place, so they keep their order) and the validation pass."""

    def __init__(self, parts: list):
        self.seconds: dict[str, float] = {}
        self.epoch_seconds: list[float] = []
        self._t = {"epoch": 0.0, "validation": 0.0}
        for part in parts:
            for hook in ("on_epoch_begin", "on_epoch_end"):
                setattr(part, hook, self._timed(type(part).__name__, getattr(part, hook)))
        timed_first, timed_last = parts[0].on_epoch_begin, parts[-1].on_epoch_end

        def begin(epoch, logs=None):
            self._t["epoch"] = time.perf_counter()
            timed_first(epoch, logs)

        def end(epoch, logs=None):
            timed_last(epoch, logs)
            if epoch > 0:
                self.epoch_seconds.append(time.perf_counter() - self._t["epoch"])

        parts[0].on_epoch_begin, parts[-1].on_epoch_end = begin, end
        self.validation = _ValidationClock(self)

    def _timed(self, name: str, fn):
        def run(epoch, logs=None):
            t = time.perf_counter()
            fn(epoch, logs)
            if epoch > 0:
                self.add(name, time.perf_counter() - t)
        return run

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def report(self) -> dict[str, float]:
        return dict(sorted(self.seconds.items(), key=lambda kv: -kv[1]))


def _ValidationClock(clock: EpochClock):
    import keras

    class ValidationClock(keras.callbacks.Callback):
        """Keras runs validation inside the epoch with the fit's callbacks: time it."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_test_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_test_end(self, logs=None):
            if self.epoch > 0:
                clock.add("validation pass", time.perf_counter() - self.start)

    return ValidationClock()


def train_flops_per_image() -> float:
    return sum(layer_train_flops().values())


def layer_train_flops() -> dict[str, float]:
    """Per Conv2D and Dense layer: forward multiply-adds x 2, and training = forward + weight
    gradient (same cost) + input gradient (same cost, except for the first layer)."""
    import keras

    from actsearch.models import build_article_cnn

    flops: dict[str, float] = {}
    for layer in build_article_cnn("relu").layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            forward = 2 * kh * kw * cin * cout * h * w
        elif isinstance(layer, keras.layers.Dense):
            cin, cout = layer.kernel.shape
            forward = 2 * cin * cout
        else:
            continue
        flops[layer.name] = float((2 if not flops else 3) * forward)
    return flops


def matmul_peak_flops(n: int = 4096, repeats: int = 5) -> tuple[float, float]:
    """The best float32 n x n matmul rates seen, per wall second (the practical peak of this
    machine) and per CPU second (the same, robust to other work taking cores away)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.matmul(a, b).numpy()  # warm up
    wall = cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), cpu_seconds()
        tf.matmul(a, b).numpy()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, cpu_seconds() - c)
    return 2 * n**3 / wall, 2 * n**3 / cpu


def machine() -> str:
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.platform()}"


if __name__ == "__main__":
    sys.exit(main())
