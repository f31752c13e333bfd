"""Aging evolution against random sampling, at the same first-rung budget.

Each algorithm runs `actsearch search search-article` restricted to its first rung (1 epoch of
the MLP on 3,000 Fashion-MNIST images, selection on a held-out 300) for --candidates
candidates, with --seeds search seeds (search.seed: the sequence of candidates; training
uses the same seed 0 throughout, so the same function always gets the same score). No
promotion, no confirm run: the comparison is of the proposals alone.

Reported (and written to --out as a plot, a CSV of every candidate and a markdown summary):
- best-so-far rung-0 validation accuracy against candidates evaluated, mean and range over
  the seeds, per algorithm;
- candidates each run needed to reach the top 1% of every candidate seen (all runs pooled);
- whole-process CPU time per run (getrusage of the child), and the CPU.

    python benchmarks/search_algorithms.py --data ../shared/data/fashion-mnist \
        --candidates 1000 --seeds 0 1 2 --out benchmarks/results/search_algorithms
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from actsearch.reporting.document import table_from_frame  # noqa: E402
from actsearch.reporting.markdown import markdown_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = ("evolution", "random")
SCORE = "val_categorical_accuracy_rung0"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_one(algorithm: str, seed: int, candidates: int, data: str, work: Path) -> tuple[
        pd.DataFrame, float]:
    """One search (resumes if its folder exists); its leaderboard in proposal order and the
    child's CPU seconds."""
    out = work / f"{algorithm}-seed{seed}"
    before = child_cpu_seconds()
    subprocess.run(
        [sys.executable, "-m", "actsearch", "search", "search-article", "--out", str(out),
         "--set", f"data.path={data}", "--set", f"search.algorithm={algorithm}",
         "--set", f"search.seed={seed}", "--set", f"search.candidates={candidates}",
         "--set", "search.rungs=[{epochs: 1, limit_train: 3000}]",
         "--set", "search.confirm.top=0"],
        check=True, cwd=ROOT)
    board = pd.read_csv(out / "search" / "leaderboard.csv")
    board = board[board["screening"] == "ok"].sort_values("index")
    return board.assign(algorithm=algorithm, seed=seed), child_cpu_seconds() - before


def best_so_far(scores: pd.Series) -> np.ndarray:
    """Running maximum; a diverged or failed candidate (no score) counts as nothing."""
    return np.maximum.accumulate(scores.fillna(-np.inf).to_numpy())


def shown(value) -> str:
    if value is None or pd.isna(value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "fashion-mnist"))
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--work", default="/tmp/search_algorithms")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search_algorithms"))
    args = parser.parse_args()
    work, out = Path(args.work), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    boards, cpu = [], {}
    for algorithm in ALGORITHMS:
        for seed in args.seeds:
            board, seconds = run_one(algorithm, seed, args.candidates, args.data, work)
            boards.append(board)
            cpu[(algorithm, seed)] = seconds
    every = pd.concat(boards, ignore_index=True)
    every[["algorithm", "seed", "index", "expression", "status", SCORE]].to_csv(
        out / "candidates.csv", index=False)
    threshold = float(np.nanpercentile(every[SCORE].astype(float), 99))

    fig, ax = plt.subplots(figsize=(8, 5))
    rows = []
    for algorithm, color in zip(ALGORITHMS, ("C0", "C1"), strict=True):
        curves = []
        for seed in args.seeds:
            board = every[(every["algorithm"] == algorithm) & (every["seed"] == seed)]
            curve = best_so_far(board[SCORE])[:args.candidates]
            curves.append(curve)
            reached = np.flatnonzero(curve >= threshold)
            rows.append({"algorithm": algorithm, "seed": seed, "candidates": len(curve),
                         "best": float(curve[-1]),
                         "mean_score": float(board[SCORE].mean()),
                         "diverged_or_failed": int(board[SCORE].isna().sum()),
                         "to_top_1pct": int(reached[0]) + 1 if len(reached) else None,
                         "cpu_seconds": round(cpu[(algorithm, seed)], 1),
                         "per_cpu_hour": round(len(curve) / cpu[(algorithm, seed)] * 3600)})
        n = min(len(c) for c in curves)
        stack = np.vstack([c[:n] for c in curves])
        x = np.arange(1, n + 1)
        ax.plot(x, stack.mean(axis=0), color=color, lw=2,
                label=f"{algorithm} (mean of {len(curves)} seeds)")
        ax.fill_between(x, stack.min(axis=0), stack.max(axis=0), color=color, alpha=0.2,
                        label=f"{algorithm} (range)")
    ax.axhline(threshold, color="k", ls=":", lw=1, label=f"top 1% of all ({threshold:.4f})")
    ax.set_xscale("log")
    ax.set_xlabel("candidates evaluated")
    ax.set_ylabel(f"best-so-far {SCORE}")
    ax.set_title(f"Aging evolution against random sampling ({cpu_model()})", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "best_so_far.png", dpi=120)

    table = pd.DataFrame(rows).astype({"to_top_1pct": "Int64"})
    table.to_csv(out / "runs.csv", index=False)
    lines = ["# Aging evolution against random sampling\n",
             f"CPU: {cpu_model()} ({len(args.seeds)} seeds x {args.candidates} candidates per "
             f"algorithm; `python benchmarks/search_algorithms.py --candidates "
             f"{args.candidates} --seeds {' '.join(map(str, args.seeds))}`).\n",
             f"Top 1% of all {len(every)} candidates seen: {SCORE} >= {threshold:.4f}.\n",
             markdown_table(table_from_frame(table, shown)),
             ""]
    for algorithm in ALGORITHMS:
        mine = table[table["algorithm"] == algorithm]
        lines.append(f"- {algorithm}: final best {mine['best'].mean():.4f} on average; mean "
                     f"score {mine['mean_score'].mean():.4f}; reached the top 1% in "
                     f"{mine['to_top_1pct'].notna().sum()} of {len(mine)} runs "
                     f"(candidates: {', '.join(shown(v) for v in mine['to_top_1pct'])}).")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
