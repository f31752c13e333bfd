"""What the diagnostics probe costs, as a share of a training epoch, by process CPU time.

One process, the article's CNN as actsearch builds it (fused Adam, op determinism). Times,
by CPU time of this process (all threads; robust to other work on the machine):
  - training: one warm-up epoch on `--train-sample` images, then a timed one; scaled to an
    epoch of `--limit` training images plus a validation pass of `--test-limit` images;
  - the probe for each size in `--sizes`: building it, its first measurement (tracing plus
    one pass: the epoch-0 row) and the median of `--repeats` later measurements.

    nice -n 15 python benchmarks/probe_cost.py --sizes 128,256,512
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu() -> float:
    return time.process_time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "fashion-mnist"))
    parser.add_argument("--limit", type=int, default=20000, help="training images per epoch")
    parser.add_argument("--test-limit", type=int, default=3333, help="validation images")
    parser.add_argument("--train-sample", type=int, default=3840,
                        help="images actually trained to measure the per-image cost")
    parser.add_argument("--sizes", default="128,256,512")
    parser.add_argument("--every", type=int, default=1, help="diagnostics.every to cost")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from actsearch.config import Config, DataConfig
    from actsearch.data import load_dataset
    from actsearch.diagnostics import ClipRule, Probe, probe_indices
    from actsearch.losses import get_loss
    from actsearch.training import build_compiled_model

    cfg = Config()
    tf.config.experimental.enable_op_determinism()
    data = load_dataset(DataConfig(path=args.data, limit_train=max(args.train_sample, 2048),
                                   limit_test=args.test_limit))
    keras.utils.set_random_seed(0)
    model = build_compiled_model(cfg, "relu", data.input_shape, data.num_classes)
    x, y = data.x_train[: args.train_sample], data.y_train[: args.train_sample]
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)  # traces
    start = cpu()
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    per_image = (cpu() - start) / len(x)
    start = cpu()
    model.evaluate(data.x_val, data.y_val, batch_size=128, verbose=0)
    validation = cpu() - start
    epoch = per_image * args.limit + validation
    print(f"training {per_image * 1e3:.2f} CPU ms per image; validation {validation:.2f} CPU s; "
          f"epoch of {args.limit} images: {epoch:.1f} CPU s")

    o = cfg.training.optimizer
    clip = ClipRule(o.clipvalue, o.clipnorm, o.global_clipnorm)
    loss = get_loss(cfg.training.loss)
    for size in [int(s) for s in args.sizes.split(",")]:
        idx = probe_indices(len(data.x_train), size, 0)
        start = cpu()
        probe = Probe(model, data.x_train[idx], data.y_train[idx], loss, clip)
        built = cpu() - start
        start = cpu()
        probe.measure(0)
        first = cpu() - start
        times = []
        for _ in range(args.repeats):
            start = cpu()
            probe.measure(1)
            times.append(cpu() - start)
        each = statistics.median(times)
        per_epoch = each / args.every
        print(f"probe {size:4d}: build {built:.2f} s, first measure (trace + pass) {first:.2f} s,"
              f" then {each:.3f} s each (min {min(times):.3f}): {100 * per_epoch / epoch:.2f}% of"
              f" an epoch (every {args.every}); set-up + epoch 0 "
              f"{100 * (built + first) / epoch:.2f}% of one epoch")
    del np


if __name__ == "__main__":
    main()
