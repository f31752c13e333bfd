"""Where the batch engine's first program goes: build, trace, graph optimisation, first epoch.

One fresh child process per (network, K, Grappler setting); each phase is this process's CPU
time (time.process_time: every thread, user + system), so other work on the machine moves
wall time, not these figures. The rung is search_throughput.py's (1 epoch on 2,700
Fashion-MNIST images, 300 to validate, batch 128), the candidates random genomes.

Phases: imports (actsearch, TensorFlow, Keras); data; building the K copies and the
optimizer (GenomeProgram.__init__); tracing the epoch and validation functions into graphs
(get_concrete_function: Python, autograph, gradients); the first call of each, less the same
call's cost once warm (instantiating the graph: Grappler and the executor); one warm epoch +
validation (the run itself).

    python benchmarks/compile_cost.py --model mlp --k 1 8 32
    python benchmarks/compile_cost.py --model article_cnn --k 1 8 --grappler default off
"""

from __future__ import annotations

import time

START_CPU = time.process_time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Grappler settings tried (tf.config.optimizer.set_experimental_options)
GRAPPLER = {
    "default": {},
    "off": {"disable_meta_optimizer": True},
    "no-remapping": {"remapping": False},
    "no-arithmetic": {"arithmetic_optimization": False},
    "no-layout": {"layout_optimizer": False},
    "no-constfold": {"constant_folding": False},
    "no-dependency": {"dependency_optimization": False},
    "no-loop": {"loop_optimization": False},
    "no-function": {"function_optimization": False},
    "light": {"arithmetic_optimization": False, "remapping": False, "layout_optimizer": False,
              "dependency_optimization": False, "loop_optimization": False},
}


def child(model: str, k: int, grappler: str, data_path: str) -> dict:
    phases: dict[str, float] = {"interpreter": START_CPU}
    clock = time.process_time
    t = clock()
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import tensorflow as tf

    from actsearch.batches import epoch_order
    from actsearch.config import config_from_dict
    from actsearch.data import load_dataset
    from actsearch.search import engine
    from actsearch.search.space import SearchSpace, sample
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from search_throughput import rung_config
    phases["imports"] = clock() - t
    if GRAPPLER[grappler]:
        tf.config.optimizer.set_experimental_options(GRAPPLER[grappler])

    t = clock()
    cfg = config_from_dict(rung_config(model, data_path, k))
    data = load_dataset(cfg.data)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(0)
    genomes = [engine.genome_of(sample(SearchSpace(), rng)) for _ in range(k)]
    phases["data"] = clock() - t

    t = clock()
    program = engine.GenomeProgram(cfg, data, k, 1, 0)
    program.load(genomes, 0, data)
    phases["build K copies + optimizer"] = clock() - t

    x, y = tf.constant(data.x_train), tf.constant(data.y_train)
    xv, yv = tf.constant(data.x_val), tf.constant(data.y_val)
    order = tf.constant(epoch_order(0, 0, len(data.x_train)), tf.int64)
    t = clock()
    program.train_epoch.get_concrete_function(x, y, order)
    phases["trace epoch (Python, gradients)"] = clock() - t
    t = clock()
    program.validate.get_concrete_function(xv, yv)
    phases["trace validation"] = clock() - t

    firsts = []
    for _ in range(3):
        t = clock()
        [a.numpy() for a in program.train_epoch(x, y, order)]
        e = clock() - t
        t = clock()
        [a.numpy() for a in program.validate(xv, yv)]
        firsts.append((e, clock() - t))
    warm_epoch = min(f[0] for f in firsts[1:])
    warm_val = min(f[1] for f in firsts[1:])
    phases["instantiate epoch (Grappler, executor)"] = firsts[0][0] - warm_epoch
    phases["instantiate validation"] = firsts[0][1] - warm_val
    phases["one warm epoch + validation"] = warm_epoch + warm_val
    phases["whole process so far"] = clock()
    return phases


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp")
    p.add_argument("--k", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--grappler", nargs="+", default=["default"], choices=list(GRAPPLER))
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        model, k, grappler = args.child
        print("PHASES " + json.dumps(child(model, int(k), grappler, args.data)))
        return 0
    from actsearch.environment import cpu_model  # noqa: PLC0415 - after the child's start
    print(f"{cpu_model()}; load {os.getloadavg()[0]:.2f}")
    rows = {}
    for grappler in args.grappler:
        for k in args.k:
            out = subprocess.run([sys.executable, __file__, "--data", args.data, "--child",
                                  args.model, str(k), grappler],
                                 capture_output=True, text=True, cwd=ROOT)
            line = [x for x in out.stdout.splitlines() if x.startswith("PHASES ")]
            if not line:
                print(out.stdout[-2000:], out.stderr[-2000:])
                return 1
            rows[f"{args.model} K={k} grappler {grappler}"] = json.loads(line[0][7:])
            print(f"{args.model} K={k} grappler {grappler}: {rows[list(rows)[-1]]}; "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    names = list(next(iter(rows.values())))
    print("\n| phase (CPU-s) | " + " | ".join(rows) + " |")
    print("| --- |" + " ---: |" * len(rows))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{r[name]:.2f}" for r in rows.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
