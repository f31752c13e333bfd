"""What Ray costs per trial: 6 tiny trials, one at a time on one local Ray worker.

Each trial takes every core (resources_per_trial.cpu = cores), so they run in turn; the time
between two results minus the trial's own seconds (build, fit, test on the worker) is what
Ray and the driver add per trial. The first trial also pays for a worker process and its
TensorFlow import; Ray's start is reported separately.

    PYTHONPATH=. python experiments/ray_overhead.py
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path

from actsearch.config import load_config
from actsearch.experiment import run_experiment

FIXTURE = Path(__file__).resolve().parent.parent / "actsearch" / "sample_data" / "mnist-mini"


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="ray-overhead-"))
    cfg = load_config(None, values={
        "name": "ray-overhead", "data.path": str(FIXTURE), "data.limit_train": 256,
        "data.limit_test": 128, "model.activations": ["relu", "elu", "gelu"],
        "training.epochs": 2, "training.batch_size": 64, "training.seeds": [0, 1],
        "output.dir": str(out), "execution.executor": "ray",
        "execution.resources_per_trial.cpu": len(os.sched_getaffinity(0))})
    events: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    run_experiment(cfg, quiet=True, log=lambda msg: events.append((time.perf_counter() - t0,
                                                                   msg)))
    previous = next(t for t, msg in events if "Ray at" in msg)
    print(f"Ray started and connected after {previous:.1f} s; sweep and report done after "
          f"{events[-1][0]:.1f} s (load {os.getloadavg()[0]:.1f})")
    for t, msg in events:
        done = re.match(r"\[\d+/\d+\] (\S+) seed (\d+): done", msg)
        if done is None:
            continue
        trial = f"{done.group(1)}-seed{done.group(2)}"
        own = json.loads((out / "trials" / f"{trial}.json").read_text())["seconds"]
        print(f"{trial:12s} {t - previous:5.1f} s after the previous result, of which the "
              f"trial's own {own:4.1f} s: Ray and driver {t - previous - own:4.1f} s")
        previous = t


if __name__ == "__main__":
    main()
