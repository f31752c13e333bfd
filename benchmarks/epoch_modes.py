"""Fast and slow epochs: how many of the 2 cores each epoch keeps busy, by input pipeline.

    python benchmarks/epoch_modes.py [--data DIR] [--limit N] [--epochs E] [--modes a,b]
                                     [--rounds R] [--threads [--dump FILE]]

The article's CNN and loop (Adam(clipvalue=0.5), batch 128, binary cross-entropy, validation
on the test set) trains for E epochs in a fresh process per mode; a callback records each
epoch's wall and process CPU time (all threads). cores busy = CPU / wall. An epoch with
markedly fewer cores busy than the others at the same CPU time is a "slow mode" epoch.

Each run also prints its page faults and validation losses per epoch. With --threads, a
sampler thread reads /proc ten times a second during each epoch and prints, per epoch: the
training steps' times (quantiles, and which step was slowest, with what every thread was
doing in it), the CPU seconds of the busiest threads (by kernel thread name), how often
the two busiest were both runnable and then how often on the same core (the kernel
failing to spread them), how long the threads together waited for a core (schedstat),
and each core's idle and steal time from /proc/stat (steal: the hypervisor ran something
else on our virtual core). --dump also writes py-spy's stack dump of every thread, taken
once a step after the first epoch has lasted 1 s (pip install py-spy).

  numpy      model.fit on numpy arrays, as the article and actsearch do (Keras builds a
             tf.data pipeline with its own map/prefetch threads)
  tensors    the same arrays as one tf.data pipeline of pre-batched tensors
             (from_tensor_slices, batch, prefetch 1): no per-batch Python slicing
  private1   tensors, with tf.data's own thread pool limited to one thread
  inter1     numpy, with TensorFlow's inter-op pool at 1 thread (intra-op stays at 2)
  malloc     numpy, with glibc's malloc told to keep freed memory (mmap threshold 32 MB,
             no trimming), so that big tensors reuse pages instead of faulting in fresh ones
  bfc        numpy, with TensorFlow's pooling (BFC) allocator for CPU tensors
             (TF_CPU_ALLOCATOR_USE_BFC=true): memory is reused, never given back
  noautotune Keras' own pipeline for NumPy arrays (its ArrayDataAdapter's tf.data
             dataset, the same batches in the same order) with tf.data's autotuning off,
             built once and passed to fit: what actsearch feeds fit (actsearch/batches.py)
  adapter    noautotune with autotuning back on, as Keras runs that pipeline itself
  noautotune-bfc  noautotune, with TensorFlow's BFC allocator for CPU tensors (as bfc)
  spin       numpy, beside one SCHED_IDLE busy loop per core: they run only when nothing
             else wants the core, so the virtual cores never halt (never idle) while
             training; a test of whether waking a halted virtual core is what is slow
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"
MODES = ("numpy", "tensors", "private1", "inter1", "malloc", "bfc", "adapter", "noautotune",
         "noautotune-bfc", "spin")
KEEP_FREED_MEMORY = ("glibc.malloc.mmap_threshold=33554432:"
                     "glibc.malloc.trim_threshold=68719476736")
SPINNER = ("import os\nos.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
           "while True:\n    pass")


def thread_table() -> dict[int, tuple[str, str, int, int, str]]:
    """tid -> (name, state, core last run on, CPU ticks, kernel function it sleeps in) for
    every thread of this process."""
    table = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            text = open(f"/proc/self/task/{tid}/stat").read()
            wchan = open(f"/proc/self/task/{tid}/wchan").read().strip()
        except OSError:  # the thread ended between listdir and open
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        table[int(tid)] = (name, fields[0], int(fields[36]), int(fields[11]) + int(fields[12]),
                           wchan)
    return table


def runqueue_wait() -> float:
    """Seconds this process's threads have spent runnable but waiting for a core (schedstat)."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            total += int(open(f"/proc/self/task/{tid}/schedstat").read().split()[1])
        except OSError:
            continue
    return total / 1e9


def core_ticks() -> list[list[int]]:
    """Per core: [busy, idle, steal] ticks since boot, from /proc/stat."""
    rows = []
    for line in open("/proc/stat"):
        if line.startswith("cpu") and line[3].isdigit():
            v = [int(x) for x in line.split()[1:]]
            rows.append([v[0] + v[1] + v[2] + v[5] + v[6], v[3] + v[4], v[7]])
    return rows


class Sampler:
    """Samples the process's threads ten times a second; summarises one epoch at a time."""

    def __init__(self, step_started, dump: str | None) -> None:
        self.samples: list[dict] = []
        self.lock = threading.Lock()
        self.step_started, self.dump, self.dumped = step_started, dump, False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        self.tid = threading.get_native_id()
        while True:
            table = thread_table()
            with self.lock:
                self.samples.append((time.perf_counter(), table))
            started = self.step_started()
            if self.dump and not self.dumped and started and time.perf_counter() - started > 1:
                self.dumped = True  # one stack dump of every thread, in the first stall
                spy = str(Path(sys.executable).parent / "py-spy")
                out = subprocess.run([spy, "dump", "--native", "--pid", str(os.getpid())],
                                     capture_output=True, text=True)
                Path(self.dump).write_text(out.stdout + out.stderr)
            time.sleep(0.1)

    def start(self) -> None:
        with self.lock:
            self.samples = []
        self.t0, self.cores0, self.wait0 = thread_table(), core_ticks(), runqueue_wait()

    def summary(self, stall: tuple[float, float]) -> dict:
        """This epoch's thread and core figures; `stall` is its slowest step's (start, end)."""
        t1, cores1 = thread_table(), core_ticks()
        with self.lock:
            samples = self.samples
        hz = os.sysconf("SC_CLK_TCK")
        used = {tid: (t1[tid][3] - self.t0[tid][3]) / hz if tid in self.t0 else t1[tid][3] / hz
                for tid in t1}
        top = sorted(used, key=used.get, reverse=True)[:4]
        both = same = 0
        in_stall: dict[str, int] = {}
        for when, table in samples:
            if stall[0] <= when <= stall[1]:
                for tid, (name, state, _, _, wchan) in table.items():
                    role = {os.getpid(): "main", self.tid: "sampler"}.get(tid, name)
                    key = f"{role}/{state}/{wchan}"
                    in_stall[key] = in_stall.get(key, 0) + 1
        samples = [table for _, table in samples]
        for table in samples:
            pair = [table.get(tid) for tid in top[:2]]
            if all(p and p[1] == "R" for p in pair):
                both += 1
                same += pair[0][2] == pair[1][2]
        return {
            "threads": [f"{t1[t][0]}:{used[t]:.1f}" for t in top],
            "both_runnable": both / max(len(samples), 1),
            "same_core": same / max(both, 1),
            "idle": [(b[1] - a[1]) / hz for a, b in zip(self.cores0, cores1, strict=True)],
            "steal": [(b[2] - a[2]) / hz for a, b in zip(self.cores0, cores1, strict=True)],
            "waited": runqueue_wait() - self.wait0,
            "in_stall": sorted(in_stall.items(), key=lambda kv: -kv[1])[:8],
        }


def worker(mode: str, data: str, limit: int, epochs: int, threads: bool,
           dump: str | None) -> None:
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
    steps: list[float] = []  # this epoch's step ends so far (the first: the epoch's start)
    epoch_now = [0]  # the first epoch's first step traces: no dump there
    sampler = (Sampler(lambda: steps[-1] if steps and epoch_now[0] else None, dump)
               if threads else None)

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = (time.perf_counter(), time.process_time())
            self.faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            if sampler:
                sampler.start()

            steps[:] = [time.perf_counter()]
            epoch_now[0] = epoch

        def on_train_batch_end(self, batch, logs=None):
            steps.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu = time.perf_counter() - self.t[0], time.process_time() - self.t[1]
            spans = list(pairwise(steps))
            slowest = max(range(len(spans)), key=lambda i: spans[i][1] - spans[i][0])
            step_ms = sorted(1000 * (b - a) for a, b in spans)
            quantiles = [step_ms[int(q * (len(step_ms) - 1))] for q in (0.1, 0.5, 0.9, 1.0)]
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self.faults
            times.append({"epoch": epoch + 1, "wall": wall, "cpu": cpu, "step_ms": quantiles,
                          "val_loss": logs["val_loss"],
                          "page_faults": faults,
                          "slowest_step": slowest + 1,
                          **(sampler.summary(spans[slowest]) if sampler else {})})

    if mode in ("adapter", "noautotune", "noautotune-bfc"):
        from actsearch.batches import fit_batches

        def keras_pipeline(x, y, shuffle):
            ds = fit_batches(x, y, 128, shuffle)  # what actsearch feeds fit: no autotuning
            if mode == "adapter":  # options set later take precedence
                options = tf.data.Options()
                options.autotune.enabled = True
                ds = ds.with_options(options)
            return ds
        model.fit(keras_pipeline(d.x_train, d.y_train, True), epochs=epochs, verbose=0,
                  validation_data=keras_pipeline(d.x_val, d.y_val, False), callbacks=[Timer()])
    elif mode in ("tensors", "private1"):
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
    p.add_argument("--threads", action="store_true", help="sample threads and cores per epoch")
    p.add_argument("--dump", help="with --threads: py-spy's dump of every thread's stack, "
                   "taken once a training step has lasted over 1 s, written to this file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.limit, args.epochs, args.threads, args.dump)
        return 0
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    print(f"{cpu}, {os.cpu_count()} cores; {args.limit} images x {args.epochs} epochs")
    seen: dict[str, int] = {}
    for _ in range(args.rounds):
        for mode in args.modes.split(","):
            seen[mode] = r = seen.get(mode, 0) + 1  # a mode listed twice: its second round
            bfc = "true" if mode.endswith("bfc") else "false"  # not actsearch's default
            env_mode = {**env, "TF_CPU_ALLOCATOR_USE_BFC": bfc,
                        **({"GLIBC_TUNABLES": KEEP_FREED_MEMORY} if mode == "malloc" else {})}
            spinners = [subprocess.Popen([sys.executable, "-c", SPINNER])
                        for _ in range(os.cpu_count() or 1) if mode == "spin"]
            out = subprocess.run([sys.executable, __file__, "--worker", mode, "--data", args.data,
                                  "--limit", str(args.limit), "--epochs", str(args.epochs)]
                                 + ["--threads"] * args.threads
                                 + (["--dump", args.dump] if args.dump else []),
                                 capture_output=True, text=True, env=env_mode, check=True)
            for spinner in spinners:
                spinner.kill()
            times = json.loads(out.stdout.strip().splitlines()[-1])
            busy = " ".join(f"{t['cpu'] / t['wall']:.2f}" for t in times)
            faults = " ".join(f"{t['page_faults'] / 1e3:.0f}k" for t in times)
            walls = " ".join(f"{t['wall']:.1f}" for t in times)
            cpus = " ".join(f"{t['cpu']:.1f}" for t in times)
            losses = " ".join(f"{t['val_loss']:.6f}" for t in times)
            print(f"round {r} {mode:9s} cores busy {busy} | wall {walls} | CPU {cpus} | "
                  f"page faults {faults} | val_loss {losses}", flush=True)
            for t in times if args.threads else []:
                print(f"  epoch {t['epoch']}: {t['cpu'] / t['wall']:.2f} busy; threads "
                      f"{' '.join(t['threads'])}; top two both runnable "
                      f"{t['both_runnable']:.0%}, of which on one core {t['same_core']:.0%}; "
                      f"idle s per core {t['idle'][0]:.1f} {t['idle'][1]:.1f}; "
                      f"steal s per core {t['steal'][0]:.1f} {t['steal'][1]:.1f}; "
                      f"threads waited {t.get('waited', 0):.1f} s for a core; training step "
                      f"ms p10/p50/p90/max {'/'.join(f'{q:.0f}' for q in t['step_ms'])} "
                      f"(slowest: step {t['slowest_step']}; threads in it, by name/state/"
                      f"kernel wait: {t['in_stall']})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
