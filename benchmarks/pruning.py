"""What pruning saves on a real sweep, and whether it changes the ranking of the rest.

Runs the same sweep twice in fresh processes, into two folders: without pruning, then with
`pruning.enabled=true` (and the rules given). Prints the wall time of each run, the training
seconds and epochs the pruned trials did not spend, which trials were pruned (epoch, reason),
and, at each sweep point, the ranking of the activations that kept at least one ok seed in
both runs, side by side.
Trials that are not pruned train identically in both runs (same seed, op determinism), so a
different ranking can only come from seeds pruned out of an activation's mean.

    python benchmarks/pruning.py --config mnist-quick --set training.seeds=[0,1,2] \\
        --rules median,chance --grace 3

Long: it trains the whole sweep twice, from scratch (--overwrite), into --out/full and
--out/pruned (default results/bench-pruning/), which are kept for their reports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def run(config: str, out: Path, sets: list[str]) -> float:
    """Wall seconds of `actsearch run`, from scratch, in a fresh process (log: out.log)."""
    cmd = [sys.executable, "-m", "actsearch", "run", config, "--quiet", "--overwrite",
           "--out", str(out)]
    for item in sets:
        cmd += ["--set", item]
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(out.with_suffix(".log"), "w") as log:
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=log, stderr=subprocess.STDOUT)
    return time.perf_counter() - start


def records(out: Path) -> pd.DataFrame:
    rows = [json.loads(p.read_text()) for p in sorted((out / "trials").glob("*.json"))]
    return pd.DataFrame(rows).set_index("trial_id")


def rankings(out: Path) -> dict[str, list[str]]:
    """Per sweep point (its swept columns, those before `rank`), the activations in rank
    order that kept at least one ok seed; one entry "" without a sweep."""
    stats = pd.read_csv(out / "statistics.csv")
    keys = list(stats.columns[:list(stats.columns).index("rank")])
    kept = stats.loc[stats["seeds"] > 0].sort_values([*keys, "rank"])
    if not keys:
        return {"": list(kept["activation"])}
    return {", ".join(f"{k}={v}" for k, v in zip(keys, point if isinstance(point, tuple)
                                                  else (point,), strict=True)):
            list(rows["activation"]) for point, rows in kept.groupby(keys, sort=False)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="mnist-quick", help="bundled name or YAML path")
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="config override for both runs (repeatable)")
    parser.add_argument("--rules", default="median,chance", help="pruning.rules, in order")
    parser.add_argument("--grace", type=int, default=3, help="pruning.grace_epochs")
    parser.add_argument("--min-peers", type=int, default=2, help="pruning.min_peers")
    parser.add_argument("--out", default="results/bench-pruning")
    parser.add_argument("--no-run", action="store_true",
                        help="only compare the two folders an earlier run left in --out")
    args = parser.parse_args()
    root = Path(args.out).resolve()
    full, pruned = root / "full", root / "pruned"
    pruning = ["pruning.enabled=true", f"pruning.rules=[{args.rules}]",
               f"pruning.grace_epochs={args.grace}", f"pruning.min_peers={args.min_peers}"]
    if not args.no_run:
        wall_full = run(args.config, full, args.sets)
        wall_pruned = run(args.config, pruned, [*args.sets, *pruning])

    a, b = records(full), records(pruned)
    cut = b[b["status"] == "pruned"]
    print(f"sweep: {args.config} {' '.join(args.sets)}; pruning: {' '.join(pruning[1:])}")
    if not args.no_run:
        print(f"wall: {wall_full:.0f} s without pruning, {wall_pruned:.0f} s with "
              f"({1 - wall_pruned / wall_full:.0%} saved)")
    print(f"training: {a['seconds'].sum():.0f} s and {a['epochs_run'].sum()} epochs without, "
          f"{b['seconds'].sum():.0f} s and {b['epochs_run'].sum()} epochs with "
          f"({1 - b['seconds'].sum() / a['seconds'].sum():.0%} of training time saved)")
    print(f"pruned: {len(cut)} of {len(b)} trials")
    for trial_id, row in cut.iterrows():
        saved = a.loc[trial_id, "seconds"] - row["seconds"]
        print(f"  {trial_id}: epoch {int(row['pruned_epoch'])} of "
              f"{a.loc[trial_id, 'epochs_run']}, {saved:.0f} s saved ({row['pruned_reason']})")
    full_ranks, pruned_ranks = rankings(full), rankings(pruned)
    changed = False
    for point, kept_full in full_ranks.items():
        kept_pruned = pruned_ranks.get(point, [])
        survivors = [x for x in kept_full if x in kept_pruned]
        before = [x for x in kept_full if x in survivors]
        after = [x for x in kept_pruned if x in survivors]
        changed |= before != after
        where = f" at {point}" if point else ""
        print(f"ranking{where} without pruning: {', '.join(kept_full)}; of the survivors, "
              f"with: {', '.join(after)} ({'same' if before == after else 'CHANGED'})")
    print("ranking of the survivors " + ("CHANGED" if changed else "UNCHANGED at every point"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
