"""What exact reruns and diagnostics cost: epoch time with and without each, as ratios.

Runs the same one-activation trial as separate processes, interleaved (plain,
deterministic, diagnostics, plain, ...) so that whatever else the machine does hits every
variant alike, and compares the median epoch time (epoch 1, which includes tracing, left
out; the diagnostics' end-of-epoch probe is inside the epoch time).

    python benchmarks/bookkeeping_cost.py --data ../shared/data/fashion-mnist --limit 10000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "plain": ["training.deterministic=false", "diagnostics.enabled=false"],
    "deterministic": ["training.deterministic=true", "diagnostics.enabled=false"],
    "diagnostics": ["training.deterministic=false", "diagnostics.enabled=true"],
}


def run_variant(name: str, args: argparse.Namespace, out: Path) -> tuple[float, float]:
    """(median epoch seconds after the first, wall seconds of the whole process)."""
    sets = [f"data.path={args.data}", f"data.limit_train={args.limit}",
            f"data.limit_test={args.limit_test}", f"training.epochs={args.epochs}",
            f"model.activations=[{args.activation}]", *VARIANTS[name]]
    cmd = [sys.executable, "-m", "actsearch", "run", "mnist", "--quiet",
           "--overwrite", "--out", str(out)]
    for item in sets:
        cmd += ["--set", item]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - start
    hist = pd.read_csv(next((out / "histories").glob("*.csv")))
    return float(hist["seconds"].iloc[1:].median()), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/fashion-mnist")
    parser.add_argument("--limit", type=int, default=10000, help="training images")
    parser.add_argument("--limit-test", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--activation", default="relu")
    args = parser.parse_args()
    args.data = str(Path(args.data).resolve())
    epoch: dict[str, list[float]] = {name: [] for name in VARIANTS}
    wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name in VARIANTS:
                e, w = run_variant(name, args, Path(tmp) / name)
                epoch[name].append(e)
                wall[name].append(w)
                print(f"repeat {repeat + 1} {name:<13} epoch {e:6.2f}s  process {w:6.1f}s",
                      flush=True)
    base = statistics.median(epoch["plain"])
    print(f"\n{args.limit} training images, {args.epochs} epochs, {args.activation}, "
          f"{args.repeats} interleaved repeats; median epoch seconds (ratio to plain):")
    for name in VARIANTS:
        med = statistics.median(epoch[name])
        print(f"  {name:<13} {med:6.2f}s  x{med / base:.3f}   "
              f"(process {statistics.median(wall[name]):.1f}s)")


if __name__ == "__main__":
    main()
