"""Two searches of the same network in one Python process (the API, a notebook): CPU time
of each, this process's getrusage (user + system). The second should cost only training:
the engine's program is compiled once per process.

    python benchmarks/search_twice.py --data /work/shared/data/fashion-mnist --candidates 64
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp")
    p.add_argument("--candidates", type=int, default=64)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                         "data" / "fashion-mnist"))
    args = p.parse_args()
    from search_throughput import rung_config

    from actsearch.environment import cpu_model
    from actsearch.search import run_search
    from actsearch.search.loop import search_config

    print(f"{cpu_model()}; imports done at {cpu_seconds():.1f} CPU-s")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            start = cpu_seconds()
            run_search(search_config(rung_config(args.model, args.data, args.candidates,
                                                 f"{tmp}/{i}")), log=lambda _: None)
            print(f"search {i + 1}: {cpu_seconds() - start:.1f} CPU-s ({args.candidates} "
                  f"{args.model} candidates), load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
