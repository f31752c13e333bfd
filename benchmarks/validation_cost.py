"""What a rung's validation pass costs beside its training epoch, in the batch engine.

The engine validates forward only (training=False, no gradient tape, one compiled pass over
the validation images per epoch). This times, per epoch of K candidates in one program, the
training epoch and the validation pass with 300 held-out images (what `data.validation_split:
0.1` left rung 0 of search-article: 10% of 3,000) and with 2,000 (`search.validation_images`),
as CPU seconds of this process; compile time excluded (one warm-up call each), median of
`--repeats`.

    python benchmarks/validation_cost.py --data /work/shared/data/fashion-mnist
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import tensorflow as tf

from actsearch.config import config_from_dict
from actsearch.data import load_dataset
from actsearch.expressions import parse
from actsearch.search.engine import GenomeProgram, as_candidate, genome_of

TEXTS = ["x * sigmoid(x)", "tanh(x) * x", "relu(x) + tanh(x)", "max(x, 0.5 * x)"]


def cpu(call, repeats: int) -> float:
    call()  # compile
    times = []
    for _ in range(repeats):
        started = time.process_time()
        call()
        times.append(time.process_time() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder of the 4 IDX files (default: "
                        "the package's MNIST sample)")
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cfg = config_from_dict({
        "data": {"dataset": "fashion_mnist", "path": args.data, "validation": "test"}
        if args.data else {"dataset": "mnist", "validation": "test"},
        "model": {"architecture": "mlp", "activations": ["relu"]},
        "training": {"epochs": 1, "batch_size": 128, "seeds": [0]}})
    data = load_dataset(cfg.data)
    x_train = tf.constant(data.x_train[:args.train], tf.float32)
    y_train = tf.constant(data.y_train[:args.train], tf.float32)
    genomes = [genome_of(as_candidate(parse(t))) for t in TEXTS]
    genomes = [genomes[i % len(genomes)] for i in range(args.k)]
    program = GenomeProgram(cfg, data, args.k, 1, 0)
    program.load(genomes, 0, data)
    order = tf.constant(np.arange(args.train), tf.int64)
    train = cpu(lambda: program.train_epoch(x_train, y_train, order), args.repeats)
    print(f"{args.k} candidates, mlp, {args.train} training images, batch 128; CPU seconds "
          "(median):")
    print("| pass | images | CPU-s | share of the training epoch |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| training epoch | {args.train:,} | {train:.3f} | 1 |")
    for n in (300, 2000):
        x_val = tf.constant(data.x_test[:n], tf.float32)
        y_val = tf.constant(data.y_test[:n], tf.float32)
        seconds = cpu(lambda x=x_val, y=y_val: program.validate(x, y), args.repeats)
        print(f"| validation (forward only) | {n:,} | {seconds:.3f} | {seconds / train:.2f} |")


if __name__ == "__main__":
    main()
