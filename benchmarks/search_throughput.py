"""Search throughput at the first rung: candidates per CPU-hour, whole process.

First rung = 1 epoch on 3,000 Fashion-MNIST training images (2,700 train / 300 validation,
data.validation: split with validation_split 0.1), random candidates from the default
space. CPU time is this process's (or, with --cli, the child's) user + system time from
resource.getrusage, from interpreter start: imports, data, tracing and training all count.

--engine-only (default): calls actsearch.search.engine.train_candidates on batches of
--batch candidates until --candidates are trained; prints the cumulative cost per candidate
at each checkpoint (100, 1,000, 10,000, ...) and the peak RSS there.
--floor N (article_cnn): also times, in the same process, a plain tf.function train step of
the network with each of N of the same candidates' ExpressionActivation on the same batches
(one epoch forward+backward and the validation forward pass, after a warm-up epoch): the
compute floor, per candidate.
--cli: runs `actsearch search` in a subprocess on the same rung (once the search loop calls
the engine, that is the whole-search figure) and reports the child's CPU time and peak RSS.

    python benchmarks/search_throughput.py --model mlp --candidates 1000
    python benchmarks/search_throughput.py --model article_cnn --candidates 48 --floor 3
    python benchmarks/search_throughput.py --cli --model mlp --candidates 256
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kilobytes


SECOND_UNIT = {"units": 2, "second_unary": ["x", "tanh", "sigmoid", "relu"],
               "second_binary": ["add", "mul"]}  # 94,826 distinct functions (config.py)


def rung_config(model: str, data: str, candidates: int, out: str | None = None,
                second_unit: bool = False) -> dict:
    return {
        "name": "throughput",
        "data": {"dataset": "fashion_mnist", "path": data, "limit_train": 3000,
                 "validation": "split", "validation_split": 0.1},
        "model": {"architecture": model, "activations": ["relu"]},
        "training": {"epochs": 1, "batch_size": 128, "seeds": [0]},
        "diagnostics": {"enabled": False},
        "search": {"algorithm": "random", "candidates": candidates, "batch": 32,
                   **({"space": SECOND_UNIT} if second_unit else {}),
                   "rungs": [{"epochs": 1, "limit_train": 3000}], "confirm": {"top": 0}},
        "output": {"dir": out} if out else {},
    }


def engine_only(args) -> None:
    import numpy as np
    import tensorflow as tf

    from actsearch.config import config_from_dict
    from actsearch.data import load_dataset
    from actsearch.environment import cpu_model
    from actsearch.search.engine import train_candidates
    from actsearch.search.space import SearchSpace, sample

    cfg = config_from_dict(rung_config(args.model, args.data, args.candidates))
    data = load_dataset(cfg.data)
    if cfg.training.deterministic:  # as the search does
        tf.config.experimental.enable_op_determinism()
    space, rng = SearchSpace(), np.random.default_rng(args.seed)
    print(f"{cpu_model()}, {os.cpu_count()} CPUs; {args.model}, {len(data.x_train)} train / "
          f"{len(data.x_val)} validation images, batches of {args.batch}", flush=True)
    checkpoints = {c for c in (100, 1000, 10000, 100000) if c <= args.candidates}
    checkpoints |= set(range(args.every, args.candidates, args.every or args.candidates))
    checkpoints.add(args.candidates)
    done, statuses, started, last = 0, {}, time.time(), (0, cpu_seconds())
    candidates = []
    while done < args.candidates:
        batch = [sample(space, rng) for _ in range(min(args.batch, args.candidates - done))]
        candidates += batch[:max(0, args.floor - len(candidates))]
        for run in train_candidates(batch, cfg, data, seed=0, log=print):
            statuses[run.status] = statuses.get(run.status, 0) + 1
        done += len(batch)
        if done in checkpoints or any(last[0] < c < done for c in checkpoints):
            cpu = cpu_seconds()
            since = (cpu - last[1]) / (done - last[0])
            print(f"{done:6d} candidates: {cpu:8.1f} CPU-s whole process, "
                  f"{cpu / done:.3f} CPU-s per candidate ({3600 * done / cpu:,.0f} per "
                  f"CPU-hour), {since:.3f} per candidate since the last line; peak RSS "
                  f"{peak_rss_mb():,.0f} MB; wall {time.time() - started:.0f} s; {statuses}",
                  flush=True)
            last = (done, cpu)
    if args.floor:
        engine_per = cpu_seconds() / done
        floor = compute_floor(cfg, data, candidates)
        print(f"compute floor: {floor:.3f} CPU-s per candidate (plain train step, "
              f"{len(candidates)} candidates); engine whole process {engine_per:.3f}: "
              f"{engine_per / floor:.2f}x the floor", flush=True)


def compute_floor(cfg, data, candidates) -> float:
    """CPU seconds per candidate of a plain tf.function train step over one epoch's batches
    plus the validation forward pass, the candidate's ExpressionActivation in the network,
    timed after a warm-up epoch (no tracing, no building in the figure)."""
    import keras
    import tensorflow as tf

    from actsearch.batches import epoch_order
    from actsearch.losses import get_loss
    from actsearch.optimizer import make_optimizer
    from actsearch.training import build_uncompiled_model

    x, y = tf.constant(data.x_train), tf.constant(data.y_train)
    xv, yv = tf.constant(data.x_val), tf.constant(data.y_val)
    order = epoch_order(0, 0, len(data.x_train))
    bs = cfg.training.batch_size
    batches = [(tf.gather(x, order[i:i + bs]), tf.gather(y, order[i:i + bs]))
               for i in range(0, len(order), bs)]
    val = [(xv[i:i + bs], yv[i:i + bs]) for i in range(0, len(data.x_val), bs)]
    loss_fn = get_loss(cfg.training.loss)
    total = 0.0
    for candidate in candidates:
        keras.utils.set_random_seed(0)
        model = build_uncompiled_model(cfg, candidate.text, data.input_shape, data.num_classes)
        opt = make_optimizer(cfg.training.optimizer)
        opt.build(model.trainable_weights)

        @tf.function
        def step(xb, yb, model=model, opt=opt):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(loss_fn(yb, model(xb, training=True)))
            opt.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
            return loss

        @tf.function
        def forward(xb, yb, model=model):
            return tf.reduce_mean(loss_fn(yb, model(xb, training=False)))

        for timed in (False, True):
            start = cpu_seconds()
            for xb, yb in batches:
                step(xb, yb)
            for xb, yb in val:
                forward(xb, yb)
            if timed:
                total += cpu_seconds() - start
    return total / len(candidates)


def cli(args) -> None:
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or str(Path(tmp) / "out")
        cfg = rung_config(args.model, args.data, args.candidates, out, args.second_unit)
        path = Path(tmp) / "search.yaml"
        path.write_text(yaml.safe_dump(cfg))
        started = time.time()
        proc = subprocess.run([sys.executable, "-m", "actsearch", "search", str(path)],
                              cwd=ROOT, capture_output=True, text=True)
        cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        print("\n".join(tail))
        if proc.returncode:
            raise SystemExit(f"actsearch search failed (exit {proc.returncode})")
        from actsearch.environment import cpu_model

        print(f"{cpu_model()}, {os.cpu_count()} CPUs")
        print(f"actsearch search, {args.candidates} candidates ({args.model}): exit "
              f"{proc.returncode}, {cpu:.1f} CPU-s, {3600 * args.candidates / cpu:,.0f} "
              f"candidates per CPU-hour, peak RSS {peak_rss_mb(resource.RUSAGE_CHILDREN):,.0f}"
              f" MB, wall {time.time() - started:.0f} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp")
    p.add_argument("--candidates", type=int, default=256)
    p.add_argument("--batch", type=int, default=32, help="candidates per train_candidates call")
    p.add_argument("--every", type=int, default=0, help="also print after every N candidates")
    p.add_argument("--floor", type=int, default=0, help="candidates timed for the floor")
    p.add_argument("--seed", type=int, default=0, help="the candidates drawn")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--second-unit", action="store_true", help="--cli: the default unit, then a "
                   "second from 4 unary x 2 binary primitives (the default one-unit space has "
                   "about 6,000 distinct functions, too few for 10,000 candidates)")
    p.add_argument("--out", help="--cli: keep the search's folder here")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--engine-only", action="store_true", help="the default")
    mode.add_argument("--cli", action="store_true")
    args = p.parse_args()
    (cli if args.cli else engine_only)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
