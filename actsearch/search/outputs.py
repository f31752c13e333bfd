"""What a search shows: the leaderboard (one row per candidate, the objective per rung), the
progress table, the confirm run and its one-sentence claim, the report's opening (the verdict
and the fidelity figures) and what it says about the search."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from actsearch.activations import display_name
from actsearch.analysis import score_column
from actsearch.config import Config
from actsearch.experiment import run_experiment
from actsearch.reporting.document import Bullets
from actsearch.reporting.search_report import (
    correlation_sentence,
    fidelity_block,
    write_leaderboard,
    write_search_report,
)
from actsearch.search.correlation import rung_pairs
from actsearch.search.fidelity_figures import (
    cost_sentence,
    fidelity_pairs,
    fidelity_table,
    fidelity_warnings,
)
from actsearch.search.progress import duration
from actsearch.search.promotion import rank_key, standing
from actsearch.search.rungs import (
    confirm_config,
    confirm_seeds,
    oriented,
    rung_column,
    rung_config,
    rung_direction,
    rung_seeds,
)
from actsearch.statistics import ClaimBounds, ScorePair, claim_bounds, ranking_order


def _screening(record) -> str:
    if record.screen_ok:
        return "ok"
    return "duplicate" if record.duplicate_of is not None else "refused"


def _status(record) -> str:
    if not record.rungs:
        return "-"
    return "failed" if record.failed else record.rungs[-1].status


def ranked_records(search: Any) -> list:
    """Every candidate, best first: the scored ones by actsearch.search.promotion.rank_key
    (standing, then the other validation score, then a hash of the function: never proposal
    order), then trained without a score, then refused and duplicates, each in proposal
    order."""
    def key(record) -> tuple:
        place = rank_key(record, search.cfg)
        if place is None:
            return (1 if record.trainable else 2, 0, 0.0, 0.0, 0, record.index)
        return (0, *(-v for v in place), 0)
    return sorted(search.records, key=key)


def leaderboard(search: Any) -> pd.DataFrame:
    """One row per candidate, best first; `score` is what evolution was told (the rung-0
    score, search.rung_metric, oriented so higher is better), `rank` the leaderboard's order
    of the scored ones; per rung the validation loss and objective.metric (means over the
    rung's seeds, at the scored epoch)."""
    cfg = search.cfg
    metric, direction = cfg.objective.metric, rung_direction(cfg)
    rows = []
    for record in ranked_records(search):
        first = record.result(0)
        scored = (first is not None and not record.failed
                  and standing(record.rungs, direction) is not None)
        row = {"expression": record.text, "fingerprint": record.fingerprint,
               "source": record.source, "batch": record.batch,
               "screening": _screening(record), "screening_detail": record.screen,
               "status": _status(record), "rung_reached": len(record.rungs),
               "score": oriented(first.objective, direction) if scored else None}
        for k in range(search.n_rungs):
            entry = record.result(k)
            ok = entry is not None and entry.objective is not None
            row[f"val_loss_rung{k}"] = entry.loss if ok else None
            row[f"val_{metric}_rung{k}"] = entry.metric if ok else None
        row["error"] = next((r.error for r in record.rungs if r.error), None)
        row["trial"] = record.trial
        row["index"] = record.index
        row["rank"] = None if not scored else 0
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        ranks, n = [], 0
        for value in table.pop("rank"):
            n += value is not None and not pd.isna(value)
            ranks.append(n if value is not None and not pd.isna(value) else None)
        table.insert(0, "rank", pd.array(ranks, dtype="Int64"))
    return table


def progress_table(search: Any) -> pd.DataFrame:
    """Candidates in the order proposed: rung 0's and the final rung's score (rung_column),
    and the best final one so far."""
    cfg = search.cfg
    metric, direction = rung_column(cfg), rung_direction(cfg)
    rows, best = [], float("nan")
    trained = [r for r in search.records if r.trainable and r.result(0) is not None]
    for n, record in enumerate(trained, start=1):
        last = record.result(search.n_rungs - 1)
        final = last.objective if last is not None else None
        if final is not None and (math.isnan(best) or (final > best if direction == "max"
                                                       else final < best)):
            best = final
        rows.append({"candidates": n, "expression": record.text,
                     f"{metric}_rung0": record.result(0).objective, "final": final,
                     "best_so_far": best})
    return pd.DataFrame(rows)


def claim(confirm_summary: pd.DataFrame, cfg: Config, confirm_cfg: Config,
          candidates: list[str]) -> tuple[str, bool]:
    """Whether a candidate beats every baseline, in one plain sentence: the bounds of the best
    candidate's lead over the best baseline (statistics.claim_bounds, 95%); every baseline
    must have been trained and testable, or nothing is claimed."""
    column = score_column(confirm_cfg)
    baselines = [display_name(b) for b in cfg.search.confirm.baselines]
    higher = cfg.objective.direction == "max"
    order = ranking_order(confirm_summary, column, higher)
    if order.empty:
        return "No confirmed result: no trial of the confirm run finished.", False
    best = str(order["activation"].iloc[0])
    if not baselines:
        return (f"{best} has the best mean {column}; no baselines were trained, so "
                "nothing is claimed against them.", False)
    bounds = claim_bounds(confirm_summary, column, candidates, baselines, higher)
    factor, unit = (100.0, " points") if "accuracy" in column else (1.0, "")
    lead = _lead_text(bounds, factor, unit)
    if bounds.missing or bounds.untestable:
        why = [f"{_names(bounds.missing)} {'has' if len(bounds.missing) == 1 else 'have'} no "
               "finished, diverged or pruned trial (all failed or never ran)"
               if bounds.missing else "",
               f"{_names(bounds.untestable)} {'has' if len(bounds.untestable) == 1 else 'have'}"
               " too few seeds to test against" if bounds.untestable else ""]
        return (f"Cannot claim: a verdict needs every baseline, and "
                f"{' and '.join(filter(None, why))}; rerun the confirm run to complete them.",
                False)
    if bounds.beats:
        return (f"Yes: {bounds.candidate} beats every baseline on {column}: the best candidate "
                f"is ahead of the best baseline by {lead} (95%, exact tests over "
                f"{_seed_text(confirm_summary)}).", True)
    if np.isfinite(bounds.high) and bounds.high < 0:
        return (f"No: the best baseline beats every candidate on {column}: the best candidate "
                f"is behind it by {_amount(-bounds.high, factor, unit)} to "
                f"{_amount(-bounds.low, factor, unit)} (95%).", False)
    best_is = (f"the best mean {column} is the baseline {best}"
               if best in baselines else f"{best} has the best mean {column}")
    ceiling = (f"no candidate beats the best baseline by more than "
               f"{_amount(bounds.high, factor, unit)}" if np.isfinite(bounds.high)
               else "the seeds do not bound how much a candidate could beat the best baseline")
    floor = (f", and the best candidate may be up to {_amount(-bounds.low, factor, unit)} "
             f"behind it" if np.isfinite(bounds.low) and bounds.low < 0 else "")
    return (f"No claim: {best_is}, but the data do not show a candidate beating every baseline: "
            f"{ceiling}{floor} (95%, exact tests over {_seed_text(confirm_summary)}); more "
            f"seeds (search.confirm.seeds) narrow this.", False)


def _amount(value: float, factor: float, unit: str) -> str:
    return f"{value * factor:.2f}{unit}" if np.isfinite(value) else "an unbounded amount"


def _lead_text(bounds: ClaimBounds, factor: float, unit: str) -> str:
    if np.isfinite(bounds.high):
        return (f"{_amount(bounds.low, factor, unit)} to {_amount(bounds.high, factor, unit)}")
    return f"at least {_amount(bounds.low, factor, unit)}"


def _names(names: list[str]) -> str:
    return ", ".join(names)


def _seed_text(summary: pd.DataFrame) -> str:
    seeds = summary["seed"].nunique() if "seed" in summary else 0
    return f"{seeds} seed{'s' if seeds != 1 else ''}"


def validation_sentence(search: Any) -> str:
    """How many images each rung validated on and with how many seeds it trained."""
    cfg = search.cfg
    parts = []
    for k in range(len(cfg.search.rungs)):
        section = rung_config(cfg, k, []).data
        data = search.data(section)
        where = "the test set" if section.validation == "test" else "held-out images"
        parts.append(f"rung {k} validates on {len(data.x_val):,} {where} "
                     f"({len(rung_seeds(cfg, k))} seed{'s' * (len(rung_seeds(cfg, k)) > 1)})")
    return "; ".join(parts) + (f" (search.validation_images {cfg.search.validation_images}, "
                               "the same images for rungs sharing data, trained on by none).")


def rate_sentence(search: Any) -> str:
    """Candidates per hour of the search's own time (all sessions, rungs and bookkeeping; not
    the confirm run), by wall clock and by CPU time (this process's; Ray workers' not)."""
    wall, cpu = search.meta.get("wall_seconds"), search.meta.get("cpu_seconds")
    done = search.standings.done
    if not done or not wall or not cpu:
        return "Speed: no batch finished yet."
    spent = search.meta.get("rung_cpu_seconds") or []
    per_rung = ", ".join(f"rung {k} {duration(v)}" for k, v in enumerate(spent))
    confirm = search.meta.get("confirm_cpu_seconds")
    confirm_text = f"; the confirm run: {duration(confirm)} of CPU time" if confirm else ""
    return (f"Speed: {done:,} candidates in {duration(wall)} "
            f"({done / wall * 3600:,.0f} per hour) and {duration(cpu)} of CPU time "
            f"({done / cpu * 3600:,.0f} per CPU-hour; training by rung: "
            f"{per_rung or '-'}{confirm_text}).")


def opening(search: Any, verdict: str, fidelity: pd.DataFrame | None) -> list:
    """What the report opens with: the verdict, then whether the search can order its
    candidates (the fidelity figures, their warnings and their cost)."""
    text: list = [f"Verdict: {verdict}"]
    if fidelity is None:
        return [*text, "Can this search order its candidates? Measured once its candidates "
                       "are trained (search/fidelity.csv)."]
    if fidelity.empty or not fidelity["n"].any():
        return [*text, "Can this search order its candidates? Not measured (search.fidelity "
                       "and search.confirm.probes / probe_top are 0, or nothing was scored)."]
    warnings = fidelity_warnings(fidelity)
    text += ["Can this search order its candidates? Spearman rho between two scores of the "
             "same candidates, on samples the search drew itself: each rung against itself "
             "under another seed (retest), each rung against the next (next_rung: random is "
             "a random draw of the lower rung, promoted or not; top the promoted), and the "
             "last rung against the confirm protocol (search/fidelity.csv, the pairs in "
             "fidelity_pairs.csv).",
             fidelity_block(fidelity)]
    text.append(Bullets(warnings) if warnings else
                "No warning: every random and top sample reaches its target.")
    text.append(cost_sentence(search.meta))
    return text


def about(search: Any, pairs: list[ScorePair]) -> list[str]:
    """Speed, the promoted-only rung correlations, and what the search did."""
    cfg, s = search.cfg, search.cfg.search
    low, high = search.meta["screen_range"] or (float("nan"), float("nan"))
    trained = [r for r in search.records if r.trainable]
    failed = sum(1 for r in trained if r.failed)
    refused = sum(1 for r in search.records if not r.screen_ok and r.duplicate_of is None)
    dupes = sum(1 for r in search.records if r.duplicate_of is not None)
    configs = [rung_config(cfg, k, []) for k in range(len(s.rungs))]
    boards = search.standings.boards
    rungs = "; ".join(f"rung {k}: {rung.training.epochs} epoch(s) of {rung.model.architecture} "
                      f"on {rung.data.limit_train or 'all'} {rung.data.dataset} images, "
                      f"{boards[k].seen} trained" for k, rung in enumerate(configs))
    correlations = " ".join(map(correlation_sentence, pairs)) or "one rung, nothing to correlate."
    text = [rate_sentence(search),
            f"Over the candidates that trained in both rungs (the promoted ones: a narrower "
            f"range than the rung saw, which lowers rho; the fidelity figures above do not "
            f"have that bias): {correlations}",
            f"{len(trained)} candidates trained ({s.algorithm}, seed {s.seed}; {failed} "
            f"failed), {refused} refused by screening over [{low:.3g}, {high:.3g}], {dupes} "
            f"duplicates not trained. Asynchronous successive halving: a candidate goes on "
            f"when it is in the top {s.keep:g} of everything its rung has seen; {rungs}. "
            f"Candidates are ranked by the highest rung with a score, then the score there: "
            f"{rung_column(cfg)} ({rung_direction(cfg)}, {s.score} epoch, the mean over the "
            f"rung's seeds; equal scores by the other validation score, then by a hash of the "
            f"function, never by proposal order); {validation_sentence(search)} The confirm "
            f"run ({cfg.out_dir / 'confirm'}) ranks on the test set."]
    if cfg.data.validation == "test":
        text.append("Caution: data.validation is test (search.allow_test_selection), so the "
                    "search selected on the test set that the confirm run reports.")
    if search.meta["exhausted"]:
        text.append(f"The search stopped early: {search.meta['exhausted']}.")
    return text


def write_outputs(search: Any, verdict: str | None, best: list[str] | None,
                  report: bool, confirm: tuple[pd.DataFrame, str] | None = None,
                  curves: list[Path] | None = None) -> dict[str, Path]:
    """The leaderboard; with `report`, also the plots, summary.md and report.html (`confirm`:
    the confirm run's summary and the column it ranks by; `curves`: its plots). With a
    verdict (the search's end) also the fidelity files."""
    cfg = search.cfg
    title = f"{cfg.name}: activation search"
    board = leaderboard(search)
    if not report:
        return write_leaderboard(search.root, title, board)
    fidelity = None
    if verdict is None:
        done = sum(1 for r in search.records if r.trainable and r.result(0) is not None)
        verdict = (f"in progress: {done} of {cfg.search.candidates} candidates trained; "
                   "nothing confirmed yet.")
    else:
        pairs_measured = fidelity_pairs(search)
        fidelity = (fidelity_table(pairs_measured), pairs_measured)
    if best is None:
        best = [r["expression"] for _, r in board.iterrows() if not pd.isna(r["rank"])][:3]
    pairs = rung_pairs(search, *(confirm or (None, None)))
    return write_search_report(
        search.root, title=title, board=board, progress=progress_table(search), best=best,
        baselines=list(cfg.search.confirm.baselines),
        opening=opening(search, verdict, None if fidelity is None else fidelity[0]),
        about=about(search, pairs), pairs=pairs,
        config_text=yaml.safe_dump(cfg.to_dict(), sort_keys=False),
        objective=rung_column(cfg), fidelity=fidelity, curves=curves)


def confirm_curves(confirm: Path, root: Path) -> list[Path]:
    """The confirm run's validation curves, copied beside the search's plots (summary.md
    links them relative to its folder)."""
    out = []
    for name in ("val_loss.png", "val_accuracy.png"):
        source = confirm / "plots" / name
        if source.is_file():
            target = root / "plots" / f"confirm_{name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            out.append(target)
    return out


def confirm_and_report(search: Any) -> tuple[pd.DataFrame, dict[str, Path], str, bool,
                                              Path | None]:
    """The confirm run of the top candidates (with seeds the rungs did not use), its claim,
    and the final report: (leaderboard, paths, verdict, beats baselines, confirm folder)."""
    cfg, s, log = search.cfg, search.cfg.search, search.log
    board = leaderboard(search)
    top = [r["expression"] for _, r in board.iterrows() if not pd.isna(r["rank"])][:s.confirm.top]
    verdict, beats, confirm_path = "No candidate was confirmed (search.confirm.top 0).", \
        False, None
    confirmed = None
    if top:
        ccfg = confirm_config(cfg, top)
        seeds, note = confirm_seeds(cfg)
        if note:
            log(f"actsearch search: {note}")
        log(f"actsearch search: confirming {', '.join(top)} against "
            f"{', '.join(s.confirm.baselines) or 'no baselines'} with seeds {seeds}")
        started = time.process_time()
        results = run_experiment(ccfg, quiet=True, log=log)
        spent = (search.meta.get("confirm_cpu_seconds") or 0.0) + time.process_time() - started
        search.meta["confirm_cpu_seconds"] = spent
        search.db.set_meta({"confirm_cpu_seconds": spent})
        confirm_path = results.root
        summary_file = results.root / "summary.csv"
        summary = (pd.read_csv(summary_file) if summary_file.stat().st_size > 1
                   else pd.DataFrame())
        verdict, beats = claim(summary, cfg, ccfg, [display_name(t) for t in top])
        confirmed = (summary, score_column(ccfg))
    elif board.empty or board["rank"].isna().all():
        verdict = "No candidate finished with a score, so none was confirmed."
    paths = write_outputs(search, verdict=verdict, best=top or None, report=True,
                          confirm=confirmed,
                          curves=confirm_curves(confirm_path, search.root) if confirm_path
                          else None)
    return board, paths, verdict, beats, confirm_path
