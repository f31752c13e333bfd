"""Which rung protocol ranks a search's candidates, per CPU-second? (issue 32)

A fixed random sample of candidates from a config's search space (search-article's by
default) is trained by the batch engine under several protocols, each with two seeds:

- base: rung 0 as search-article has it (1 epoch of the MLP on 2,700 images, 300 held out);
- val: the same with 1,500 validation images (does a larger validation set order the top?);
- epochs: 3 epochs instead of 1;
- images: 9,000 training images instead of 2,700;
- seeds: the base protocol's mean over its two seeds (twice its cost);
- network: the article's CNN (1 epoch on 900 images: 8 steps), and for 3 epochs (24 steps):
  the CNN rung mostly measures whether a network leaves the loss plateau, and the share at
  chance per number of steps says how many it needs;
- loss against accuracy: every protocol is scored both ways (the same trainings).

For each protocol and score: the test-retest rho (seed 0 against seed 1), the rho against the
reference (the `--reference` protocol, mean over its two seeds) over the whole sample, over
the reference's top quarter, and over the candidates above chance (validation accuracy above
1.5 / classes in both), the share at chance, and the CPU-seconds per candidate (the second
seed's call, after the program is compiled: compiling is a cost per process, not per
candidate). rho per CPU-second is the figure to choose rungs by; each rho has its 95% interval
(Fisher z, actsearch.statistics.rank_correlation).

    python benchmarks/search_fidelity.py --data /work/shared/data/fashion-mnist
    python benchmarks/search_fidelity.py --data DIR --candidates 32 --protocols base,val,cnn

Prints one markdown table (pasted into benchmarks/README.md with the CPU model and command).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actsearch.bundled import resolve_config  # noqa: E402
from actsearch.config import load_config  # noqa: E402
from actsearch.data import load_dataset  # noqa: E402
from actsearch.search.engine import train_candidates  # noqa: E402
from actsearch.search.fidelity import last_accuracy  # noqa: E402
from actsearch.search.preflight import search_space_of  # noqa: E402
from actsearch.search.rungs import derived_config  # noqa: E402
from actsearch.search.space import sample  # noqa: E402
from actsearch.statistics import rank_correlation  # noqa: E402

# name: (architecture, epochs, training images, validation images)
PROTOCOLS = {
    "base": ("mlp", 1, 2700, 300),
    "val": ("mlp", 1, 2700, 1500),
    "epochs": ("mlp", 3, 2700, 300),
    "images": ("mlp", 1, 9000, 1000),
    "cnn": ("article_cnn", 1, 900, 300),  # 8 steps of 128 images: the plateau
    "cnn_steps": ("article_cnn", 3, 900, 300),  # 24 steps
    "reference": ("mlp", 3, 9000, 1500),
}
CHANCE_FACTOR = 1.5  # as actsearch/search/fidelity_figures.py


def protocol_config(base, name: str, data_path: str):
    architecture, epochs, train, val = PROTOCOLS[name]
    model = {"model.architecture": architecture}
    if architecture != base.model.architecture:
        model |= {"model.depth": None, "model.width": None}
    return derived_config(base, {
        **model, "training.epochs": epochs, "training.seeds": [0],
        "data.path": data_path, "data.validation": "split",
        "data.limit_train": train + val, "data.validation_split": val / (train + val),
        "output.dir": "/tmp/search-fidelity-unused"})


def train(cfg, candidates, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Last-epoch validation accuracy and loss per candidate, and CPU-s per candidate."""
    data = load_dataset(cfg.data)
    started = time.process_time()
    runs = train_candidates(candidates, cfg, data, seed, log=lambda line: None)
    spent = (time.process_time() - started) / len(candidates)
    acc, loss = [], []
    for run in runs:
        history = run.history
        ok = run.status == "ok" and not history.empty
        acc.append(last_accuracy(history) if ok else None)
        loss.append(float(history["val_loss"].iloc[-1]) if ok else np.nan)
    return np.array(acc, dtype=float), np.array(loss), spent


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def figure(x, y) -> str:
    keep = np.isfinite(x) & np.isfinite(y)
    c = rank_correlation(x[keep], y[keep])
    if c.rho is None:
        return f"- (n {c.n})"
    interval = "" if c.low is None else f" [{c.low:.2f}, {c.high:.2f}]"
    return f"{c.rho:.2f}{interval}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="search-article")
    parser.add_argument("--data", required=True, help="Fashion-MNIST: a folder of 4 IDX .gz")
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="draws the candidates")
    parser.add_argument("--protocols", default="base,val,epochs,images,cnn,cnn_steps")
    parser.add_argument("--reference", default="reference")
    args = parser.parse_args()
    base = load_config(resolve_config(args.config))
    space = search_space_of(base)
    rng = np.random.default_rng(args.seed)
    candidates, seen = [], set()
    while len(candidates) < args.candidates:
        candidate = sample(space, rng)
        if candidate.fingerprint not in seen:
            seen.add(candidate.fingerprint)
            candidates.append(candidate)
    names = [args.reference, *args.protocols.split(",")]
    scores = {}
    for name in names:
        cfg = protocol_config(base, name, args.data)
        a0, l0, _ = train(cfg, candidates, 0)
        a1, l1, cpu = train(cfg, candidates, 1)
        scores[name] = (a0, l0, a1, l1, cpu)
        print(f"{name}: {cpu:.2f} CPU-s per candidate", file=sys.stderr, flush=True)
    ra0, rl0, ra1, rl1, _ = scores[args.reference]
    ref_acc, ref_loss = (ra0 + ra1) / 2, (rl0 + rl1) / 2
    chance = CHANCE_FACTOR / 10
    quarter = max(4, math.ceil(len(candidates) / 4))
    top = np.argsort(-np.nan_to_num(ref_acc, nan=-1.0))[:quarter]
    print(f"{len(candidates)} candidates of {args.config}'s space (seed {args.seed}); "
          f"reference: {args.reference} {PROTOCOLS[args.reference]}, mean of 2 seeds; "
          f"CPU: {cpu_model()}\n")
    print("| protocol (net, epochs, train, val) | score | CPU-s / cand. | at chance | "
          "retest | vs reference | ... top quarter | ... above chance |")
    print("|---|---|---|---|---|---|---|---|")
    rows = [(name, name) for name in names[1:]] + [("seeds", "base")]
    for label, name in rows:
        a0, l0, a1, l1, cpu = scores[name]
        at_chance = np.nanmean(a0 <= chance)
        for score, s0, s1, ref in (("accuracy", a0, a1, ref_acc), ("loss", l0, l1, ref_loss)):
            mean = (s0 + s1) / 2 if label == "seeds" else s0
            above = (a0 > chance) & (ref_acc > chance)
            print(f"| {label} {PROTOCOLS[name] if label != 'seeds' else '(base, 2 seeds)'} | "
                  f"{score} | {cpu * (2 if label == 'seeds' else 1):.2f} | {at_chance:.0%} | "
                  f"{figure(s0, s1) if label != 'seeds' else '-'} | {figure(mean, ref)} | "
                  f"{figure(mean[top], ref[top])} | {figure(mean[above], ref[above])} |")


if __name__ == "__main__":
    main()
