"""Fast and slow epochs: how many of the 2 cores each epoch keeps busy, by input pipeline.

    python benchmarks/epoch_modes.py [--data DIR] [--limit N] [--epochs E] [--modes a,b]

The article's CNN and loop (Adam(clipvalue=0.5), batch 128, binary cross-entropy, validation
on the test set) trains for E epochs in a fresh process per mode; a callback records each
epoch's wall and process CPU time (all threads). cores busy = CPU / wall. An epoch with
markedly fewer cores busy than the others at the same CPU time is a "slow mode" epoch.

  numpy      model.fit on numpy arrays, as the article and actsearch do (Keras builds a
             tf.data pipeline with its own map/prefetch threads)
  tensors    the same arrays as one tf.data pipeline of pre-batched tensors
             (from_tensor_slices, batch, prefetch 1): no per-batch Python slicing
  private1   tensors, with tf.data's own thread pool limited to one thread
  inter1     numpy, with TensorFlow's inter-op pool at 1 thread (intra-op stays at 2)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"
MODES = ("numpy", "tensors", "private1", "inter1")


def worker(mode: str, data: str, limit: int, epochs: int) -> None:
    import tensorflow as tf
    if mode == "inter1":
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from keras import layers

    sys.path.insert(0, str(ROOT))
    from actsearch.config import DataConfig
    from actsearch.data import load_dataset

    d = load_dataset(DataConfig(path=data, limit_train=limit, limit_test=limit // 6))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(d.x_train.shape[1:]),
        layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2), layers.Dropout(0.25), layers.Flatten(),
        layers.Dense(128, activation="relu"), layers.Dropout(0.5),
        layers.Dense(d.y_train.shape[1], activation="softmax")])
    model.compile(keras.optimizers.Adam(clipvalue=0.5), "binary_crossentropy")

    times: list[dict] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu = time.perf_counter() - self.t[0], time.process_time() - self.t[1]
            times.append({"epoch": epoch + 1, "wall": wall, "cpu": cpu})

    if mode in ("tensors", "private1"):
        def pipeline(x, y):
            ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(128).prefetch(1)
            if mode == "private1":
                options = tf.data.Options()
                options.threading.private_threadpool_size = 1
                ds = ds.with_options(options)
            return ds
        model.fit(pipeline(d.x_train, d.y_train), epochs=epochs, verbose=0,
                  validation_data=pipeline(d.x_val, d.y_val), callbacks=[Timer()])
    else:
        model.fit(d.x_train, d.y_train, batch_size=128, epochs=epochs, verbose=0,
                  validation_data=(d.x_val, d.y_val), callbacks=[Timer()])
    print(json.dumps(times))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--limit", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.limit, args.epochs)
        return 0
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    print(f"{cpu}, {os.cpu_count()} cores; {args.limit} images x {args.epochs} epochs")
    seen: dict[str, int] = {}
    for _ in range(args.rounds):
        for mode in args.modes.split(","):
            seen[mode] = r = seen.get(mode, 0) + 1  # a mode listed twice: its second round
            out = subprocess.run([sys.executable, __file__, "--worker", mode, "--data", args.data,
                                  "--limit", str(args.limit), "--epochs", str(args.epochs)],
                                 capture_output=True, text=True, env=env, check=True)
            times = json.loads(out.stdout.strip().splitlines()[-1])
            busy = " ".join(f"{t['cpu'] / t['wall']:.2f}" for t in times)
            walls = " ".join(f"{t['wall']:.1f}" for t in times)
            cpus = " ".join(f"{t['cpu']:.1f}" for t in times)
            print(f"round {r} {mode:9s} cores busy {busy} | wall {walls} | CPU {cpus}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
