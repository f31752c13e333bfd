"""The report of a results folder: the tables written as CSV, the plots, and one report
model rendered to summary.md and report.html. Everything is rebuilt from the files on disk,
never from memory, so a resumed or re-plotted run reports exactly what was kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from actsearch.analysis import (
    diagnostics_table,
    rank_activations,
    rows_at,
    score_column,
    tidy_diagnostics,
    tidy_histories,
    trial_summary,
)
from actsearch.config import Config, sweep_points
from actsearch.diagnostics import describe_probe
from actsearch.exact_tests import seeds_needed
from actsearch.files import write_atomic
from actsearch.losses import LOSSES
from actsearch.optimizer import describe_optimizer
from actsearch.reporting.diagnostic_plots import plot_diagnostics
from actsearch.reporting.document import (
    Bullets,
    Figure,
    Preformatted,
    Report,
    Section,
    Table,
    table_from_frame,
)
from actsearch.reporting.html import render_html
from actsearch.reporting.markdown import render_markdown
from actsearch.reporting.plots import plot_objective_vs_keys, plot_results
from actsearch.statistics import (
    ALPHA,
    MCB,
    PAIRED,
    Comparison,
    RankingVerdict,
    ranking_verdict,
)
from actsearch.storage import ResultsDir
from actsearch.trials import Status, Trial, point_id, point_label


def write_report(cfg: Config, results: ResultsDir, trials: list[Trial]) -> pd.DataFrame:
    """histories.csv, summary.csv, statistics.csv, diagnostics.csv, the plots, summary.md and
    report.html, all rebuilt from what is on disk (so `actsearch plot` and a resumed run
    agree). Returns the trial summary."""
    root = results.root
    histories = tidy_histories(results, trials)
    write_atomic(root / "histories.csv", histories.to_csv(index=False))
    summary = trial_summary(cfg, results, trials)
    write_atomic(root / "summary.csv", summary.to_csv(index=False))
    ranking = rank_activations(cfg, summary)
    write_atomic(root / "statistics.csv", ranking.to_csv(index=False))
    diag = tidy_diagnostics(results, trials)
    if not diag.empty:
        write_atomic(root / "diagnostics.csv", diag.to_csv(index=False))
    pruned = (summary.loc[summary["status"] == Status.PRUNED, "trial"].tolist()
              if "status" in summary else [])
    points = sweep_points(cfg)
    plots = plot_results(histories, results.plots_dir, cfg.plot_metric, cfg.plots.exclude,
                         cfg.data.validation, points, pruned, cfg.plots.formats)
    plots += plot_objective_vs_keys(summary, score_column(cfg), cfg.sweep, results.plots_dir,
                                    cfg.plots.formats)
    for point in points:
        plots += plot_diagnostics(rows_at(diag, point), results.plots_dir,
                                  point_id(point), point_label(point), cfg.plots.formats)
    report = build_report(cfg, root, summary, ranking, diagnostics_table(diag, points),
                          [p for p in plots if p.suffix == ".png"])
    write_atomic(root / "summary.md", render_markdown(report, root))
    write_atomic(root / "report.html", render_html(report))
    return summary


def build_report(cfg: Config, root: Path, summary: pd.DataFrame, ranking: pd.DataFrame,
                 diag_table: pd.DataFrame, pngs: list[Path]) -> Report:
    sections = []
    points = sweep_points(cfg)
    if cfg.sweep and not ranking.empty:
        sections.append(Section("Across the sweep", [ACROSS_INTRO, across_table(cfg, ranking)]))
    for point in points:
        where = f", {point_label(point)}" if point else ""
        at = rows_at(summary, point)
        ranked = rows_at(ranking, point)
        if at.empty or ranked.empty:
            continue
        score = score_column(cfg)
        verdict = ranking_verdict(at, score, cfg.objective.direction == "max",
                                  cfg.statistics.reference)
        sections.append(Section(f"Ranking{where}", [
            _ranking_table(ranked, cfg), *([verdict_sentence(verdict, cfg)] if verdict else [])]))
        if verdict and len(verdict.untestable) < len(verdict.comparisons):
            sections.append(Section(f"How sure is the ranking{where}?", [
                comparison_intro(cfg, verdict), floor_sentence(verdict),
                Bullets(comparison_sentences(verdict, _scale(cfg)))]))
    for point in points:
        rows = rows_at(diag_table, point)
        if rows.empty:
            continue
        rows = rows.drop(columns=[key for key, _ in point]).dropna(axis=1, how="all")
        where = f", {point_label(point)}" if point else ""
        sections.append(Section(f"Inside the networks{where}", [
            f"{describe_probe(cfg.diagnostics)} {DIAGNOSTICS_INTRO}",
            table_from_frame(rows, diagnostic_number, wide=True)]))
    if pngs:
        sections.append(Section("Plots", [Figure(p, wide=p.stem.startswith("diagnostics"))
                                          for p in pngs], html_only=True))
    if not summary.empty:
        sections.append(Section("Trials", [table_from_frame(_trial_columns(cfg, summary),
                                                            wide=True),
                                           Bullets(_notes(summary))]))
    env = root / "env.json"
    sections += [Section("Config", [Preformatted((root / "config.yaml").read_text())],
                         html_only=True),
                 Section("Environment", [Preformatted(env.read_text() if env.is_file()
                                                      else "{}")], html_only=True)]
    intro: list = [describe_setup(cfg), *filter(None, [test_selection_note(cfg)])]
    if summary.empty:
        intro.append("No trial has finished yet.")
    return Report(f"{cfg.name}: activation comparison", intro, sections)


ACROSS_INTRO = ("Mean test objective over seeds (accuracies in %) at each sweep point, and the "
                "activation's rank there (1 = best); each point's own ranking and tests "
                "follow.")


def across_table(cfg: Config, ranking: pd.DataFrame) -> Table:
    """Activations down, sweep points across: `mean (rank)` of the objective on the test
    set, so a glance shows how the ranking moves with the swept values."""
    factor, _ = _scale(cfg)
    score = f"{score_column(cfg)}_mean"
    points = [p for p in sweep_points(cfg) if not rows_at(ranking, p).empty]
    activations = list(dict.fromkeys(ranking["activation"]))
    rows = []
    for activation in activations:
        cells = [activation]
        for point in points:
            row = rows_at(ranking, point)
            row = row[row["activation"] == activation]
            mean = row[score].iloc[0] * factor if not row.empty else float("nan")
            cells.append("-" if pd.isna(mean) else f"{mean:.2f} ({row['rank'].iloc[0]})")
        rows.append(cells)
    return Table(["activation", *(point_label(p) for p in points)], rows, wide=True)


def describe_setup(cfg: Config) -> str:
    """One paragraph: what data, how validated, how trained, what decides the ranking."""
    data, t = cfg.data, cfg.training
    source = data.path or data.loader or data.dataset
    sizes = ", ".join(f"{k} {getattr(data, k)}" for k in ("limit_train", "limit_test")
                      if getattr(data, k))
    val = ("the test set (as the article)" if data.validation == "test"
           else f"{data.validation_split:.0%} of the training set, held out; the test set is "
           f"used once, at the end")
    restore = "; test metrics use the best-validation weights" if t.restore_best else ""
    return (f"Data: {source}{' (' + sizes + ')' if sizes else ''}; validation on {val}{restore}. "
            f"Network: {cfg.model.architecture}. {t.epochs} epochs, batch {t.batch_size}, "
            f"loss {t.loss} ({LOSSES.get(t.loss).description}), "
            f"{describe_optimizer(t.optimizer)}{_clip_text(cfg)}; "
            f"seeds {', '.join(map(str, t.seeds))}. Objective: {cfg.objective.metric} "
            f"({cfg.objective.direction}), on the test set for the ranking.{_sweep_text(cfg)}")


def test_selection_note(cfg: Config) -> str:
    """A run validated on the test set whose epochs or trials were chosen by that validation
    reports test figures selected on the test set: say so."""
    t = cfg.training
    if cfg.data.validation != "test":
        return ""
    chosen = [text for on, text in (
        (t.restore_best, "training.restore_best reports each trial's best epoch by test "
                         f"{cfg.objective.metric}"),
        (t.early_stopping_patience is not None, "training.early_stopping_patience stops each "
                                                "trial by its test figures"),
        (cfg.pruning.enabled, "pruning stops trials by their test figures")) if on]
    if not chosen:
        return ""
    return (f"Caution: these test figures were selected on the test set. data.validation is "
            f"test, and {'; '.join(chosen)}; so the test figures below are optimistic and "
            f"are not an independent estimate. Validate on a held-out split (data.validation: "
            f"split) for figures that are.")


def _sweep_text(cfg: Config) -> str:
    if not cfg.sweep:
        return ""
    swept = "; ".join(f"{key} {', '.join(map(str, values))}" for key, values in cfg.sweep.items())
    return (f" Swept: {swept} ({len(sweep_points(cfg))} points; activations are ranked and "
            f"tested within each point).")


def _scale(cfg: Config) -> tuple[float, str]:
    """Accuracies read in percentage points, losses as they are."""
    return (100.0, "pp") if "accuracy" in cfg.objective.metric else (1.0, "")


def verdict_sentence(verdict: RankingVerdict, cfg: Config) -> str:
    """The ranking in plain words: who is best by mean, and what the tests allow to say."""
    metric = cfg.objective.metric
    head = f"{verdict.best} has the best mean test {metric}."
    if any(c.worst_best or c.worst_other for c in verdict.comparisons):
        head = (f"{verdict.best} has the best mean test {metric} with each diverged or pruned "
                f"seed counted as the worst result here.")
    if not verdict.comparisons:
        return head
    if len(verdict.untestable) == len(verdict.comparisons):
        return (f"{head} With one seed per activation no difference can be tested: run more "
                f"seeds (training.seeds) before calling a winner.")
    testable = [c for c in verdict.comparisons if c.testable]
    needs, sides = _needed_p(verdict)
    if verdict.p_floor >= needs:
        what = ("no activation can be excluded from the best" if verdict.procedure == MCB
                else f"no activation can be told apart from {verdict.anchor}")
        return (f"{head} With these seeds {what} (a p-value below {needs:.2g} is needed and "
                f"none can go below {verdict.p_floor:.2g}): the order is by mean alone and "
                f"shows no activation better than another; run at least "
                f"{seeds_needed(len(testable), sides=sides)} seeds per activation "
                f"(training.seeds) before calling a winner.")
    if verdict.procedure == MCB:
        return f"{head} {_mcb_verdict(verdict)}"
    return f"{head} {_reference_verdict(verdict)}"


def _needed_p(verdict: RankingVerdict) -> tuple[float, int]:
    """The raw p the clearest comparison must go below, and the sides of its test."""
    m = max(1, sum(c.testable for c in verdict.comparisons))
    if verdict.procedure == MCB:
        return ALPHA / len(verdict.comparisons), 1
    return ALPHA / m, 2


def _mcb_verdict(verdict: RankingVerdict) -> str:
    may = verdict.best_group
    excluded = verdict.distinguishable
    if len(may) == 1:
        return ("It is the best of these (Hsu's multiple comparisons with the best, 95%): "
                "every other activation is excluded, and none is better than it.")
    text = (f"The best may be any of {_join(may)} (Hsu's multiple comparisons with the best, "
            f"95%): the seeds do not tell which")
    if excluded:
        text += (f"; {_join(excluded)} {'is' if len(excluded) == 1 else 'are'} excluded "
                 f"(another activation is at least as good)")
    return text + ". Not excluded does not mean as good: see each interval."


def _reference_verdict(verdict: RankingVerdict) -> str:
    better = [c.activation for c in verdict.comparisons if c.significant and c.shift > 0]
    worse = [c.activation for c in verdict.comparisons if c.significant and c.shift <= 0]
    open_ = [*verdict.indistinguishable, *verdict.untestable]
    parts = [f"significantly better than {verdict.anchor}: {_join(better)}" if better else "",
             f"significantly worse: {_join(worse)}" if worse else "",
             f"not told apart from it: {_join(open_)} (which is not the same as equal: see "
             f"each interval)" if open_ else ""]
    return (f"Against {verdict.anchor}, named in advance (statistics.reference; {verdict.test}, "
            f"Holm-adjusted): {'; '.join(filter(None, parts))}.")


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def comparison_intro(cfg: Config, verdict: RankingVerdict | None = None) -> str:
    common = ("A diverged or pruned seed counts as the worst outcome (ranked below every "
              "finished one; the means are of the finished seeds). Where the seeds pair up "
              "(same seed: same initial weights, split and batch order), the exact sign-flip "
              "test on the paired differences (signed ranks); else the rank-sum permutation "
              "test. Both are exact for few seeds and assume no distribution. Each difference "
              "has a size: the Hodges-Lehmann shift and the interval that inverts the same "
              "test; the data leave open every value inside it, and an interval running to "
              "infinity means the seeds cannot bound that side at this level. Effect size, "
              "from the finished seeds: d_z (paired) or Cohen's d (unpaired).")
    metric = cfg.objective.metric
    if verdict is not None and verdict.procedure != MCB:
        return (f"Each activation against {verdict.anchor}, named before the data were seen "
                f"(statistics.reference), on test {metric} over seeds. p-values are two-sided "
                f"and adjusted by Holm's method over the family, which alone decides "
                f"significance (family-wise error at most 5%); the intervals of "
                f"activation - {verdict.anchor} are simultaneous 95% (Bonferroni). {common}")
    return ("No reference was named (statistics.reference), so the best is chosen on these "
            f"same seeds, and testing it against the rest at 5% would claim too much. Hsu's "
            f"multiple comparisons with the best, on test {metric} over seeds: each activation "
            "against the best of the others, in an interval that holds for all activations at "
            "once with 95% confidence and always contains 0. An activation is excluded when "
            "another beats it in a one-sided test at 5% / (number of activations - 1); some "
            "other activation is then at least as good. The others may be the best. "
            f"{common}")


def floor_sentence(verdict: RankingVerdict) -> str:
    """What the number of seeds allows at best: no exact test goes below 2/2^n (two-sided;
    1/2^n one-sided) with n paired seeds, and the family asks the clearest for less."""
    testable = [c for c in verdict.comparisons if c.testable]
    if not testable:
        return ""
    clearest = min(testable, key=lambda c: c.p_floor)
    seeds = (f"{clearest.n_pairs} paired seeds" if clearest.test == PAIRED
             else f"{clearest.n_best} and {clearest.n_other} unpaired seeds")
    needs, sides = _needed_p(verdict)
    m = len(testable)
    rivals = len(verdict.comparisons)
    family = (f"MCB over {rivals} rival{'s' if rivals > 1 else ''} of each activation"
              if verdict.procedure == MCB
              else f"Holm over {m} comparison{'s' if m > 1 else ''}")
    kind = "one-sided " if sides == 1 else ""
    head = f"With {seeds} no {kind}p-value can go below {clearest.p_floor:.2g}"
    needed = seeds_needed(len(verdict.comparisons) if sides == 1 else m, sides=sides)
    if clearest.p_floor >= needs:
        return (f"{head}, so none can be significant here ({family} needs p < {needs:.2g}): "
                f"at least {needed} paired seeds per activation are needed before a difference "
                f"can be shown, and more for a small one.")
    return (f"{head}; {family} needs p < {needs:.2g} for the clearest one, which takes at "
            f"least {needed} paired seeds.")


def _amount(value: float, factor: float, unit: str) -> str:
    return f"{abs(value) * factor:.2f}" + (f" {unit}" if unit else "")


def size_sentence(name: str, other: str, low: float, high: float,
                  scale: tuple[float, float | str], needed: int | None = None) -> str:
    """What an interval of `name` - `other` (positive: name better) leaves open, in words;
    `needed`: the paired seeds that would bound it."""
    factor, unit = scale
    if not (np.isfinite(low) or np.isfinite(high)):
        more = (f"at least {needed} paired seeds are needed" if needed
                else "more seeds are needed")
        return (f"the seeds do not bound how much {name} is better or worse than {other} "
                f"({more} for a distribution-free 95% interval here)")
    better = (f"at most {_amount(high, factor, unit)} better" if np.isfinite(high)
              else "better by an amount the seeds do not bound")
    worse = (f"at most {_amount(low, factor, unit)} worse" if np.isfinite(low)
             else "worse by an amount the seeds do not bound")
    if low > 0:
        upper = f" and at most {_amount(high, factor, unit)}" if np.isfinite(high) else ""
        return f"{name} is better than {other} by at least {_amount(low, factor, unit)}{upper}"
    if high < 0:
        lower = f" and at most {_amount(low, factor, unit)}" if np.isfinite(low) else ""
        return f"{name} is worse than {other} by at least {_amount(high, factor, unit)}{lower}"
    if high == 0 and low < 0:
        return f"{name} is not better than {other}, and {worse}"
    return f"{name} is {better} than {other} and {worse}"


def comparison_sentences(verdict: RankingVerdict, scale: tuple[float, str] = (100.0, "pp")
                         ) -> list[str]:
    """One line per comparison; under MCB the best's own interval first."""
    lines = []
    rivals = len(verdict.comparisons)
    if verdict.procedure == MCB and not np.isnan(verdict.best_low):
        size = size_sentence(verdict.best, "the best of the others", verdict.best_low,
                             verdict.best_high, scale, seeds_needed(rivals, sides=1))
        lines.append(f"{verdict.best} (best by mean): {size}")
    return lines + [comparison_sentence(c, scale, rivals) for c in verdict.comparisons]


def comparison_sentence(c: Comparison, scale: tuple[float, str] = (100.0, "pp"),
                        rivals: int = 1) -> str:
    factor, unit = scale
    diff = f"{c.difference * factor:+.2f}" + (f" {unit}" if unit else "")
    mcb = c.procedure == MCB
    head = (f"{c.activation}: {c.best} - {c.activation} {diff} in mean" if mcb
            else f"{c.best} vs {c.activation}: difference {diff}")
    if not np.isfinite(c.p_value):
        return f"{head}, not testable (needs at least 2 seeds each)"
    seeds = f"{c.n_pairs} seeds" if c.test == PAIRED else f"{c.n_best} and {c.n_other} seeds"
    worst = [f"{n} of {who}'s" for n, who in ((c.worst_best, c.best),
                                              (c.worst_other, c.activation)) if n]
    counted = (f" ({' and '.join(worst)} diverged or pruned, counted as worst)"
               if worst else "")
    effect = "" if np.isnan(c.effect_size) else f", {c.effect} = {c.effect_size:.2f}"
    shift = f"{-c.shift * factor:+.2f}" + (f" {unit}" if unit else "")
    if mcb:
        size = size_sentence(c.activation, "the best of the others", c.low, c.high, scale,
                             seeds_needed(rivals, sides=1))
        verdict = ("excluded: another activation is at least as good" if c.significant
                   else "not excluded (which does not make it as good)")
        return (f"{head}, Hodges-Lehmann estimate {shift} ({c.test} over "
                f"{seeds}{counted}{effect}); {size}{_level(c, '95%, MCB')}. Clearest rival "
                f"{c.rival}: one-sided p = {c.p_value:.2g} (smallest possible "
                f"{c.p_floor:.2g}), times {rivals} rival{'s' if rivals > 1 else ''} "
                f"{c.p_adjusted:.2g}: {verdict}")
    size = size_sentence(c.activation, c.best, c.low, c.high, scale,
                         seeds_needed(rivals, sides=2))
    verdict = ("significant at the 5% level" if c.significant
               else f"not significant at {min(c.n_best, c.n_other)} seeds, which does not "
                    f"make them equal")
    return (f"{head}, Hodges-Lehmann estimate {shift}, {c.test} over {seeds}{counted}{effect}, "
            f"p = {c.p_value:.2g} (smallest possible {c.p_floor:.2g}), Holm-adjusted p = "
            f"{c.p_adjusted:.2g}: {verdict}; {size}{_level(c, 'simultaneous 95%')}")


def _level(c: Comparison, level: str) -> str:
    """The interval's level, where the interval bounds something."""
    return f" ({level})" if np.isfinite(c.low) or np.isfinite(c.high) else ""


DIAGNOSTICS_INTRO = (
    "Measured on a fixed probe batch of training images, in inference mode. grad a/b: "
    "kernel gradient norm of the first layer over the last, before clipping (far below 1: "
    "vanishing gradients). clipped: share of gradient entries the clip value cuts. dead: "
    "units whose output is 0 on every probe image; inactive: output <= 0 on every image "
    "(dead for ReLU; Leaky ReLU and ELU still pass a gradient there). mean/std: of the top "
    "hidden layer's outputs (SELU aims at 0 and 1). Details: diagnostics.csv and plots/.")


def diagnostic_number(value) -> str:
    """Ratios span many orders of magnitude; percentages and stats do not."""
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return "-"
    return f"{value:.2g}" if abs(value) < 0.01 and value != 0 else f"{value:.3g}"


TRIAL_COLUMNS = ["activation", "seed", "status", "epochs", "final_val_{m}", "best_val_{m}",
                 "best_epoch", "test_loss", "test_binary_accuracy", "test_categorical_accuracy",
                 "mean_epoch_seconds", "params"]
ACCURACY_NOTE = ("binary_accuracy is what Keras reported as 'accuracy' for binary_crossentropy "
                 "in the article's days: it scores each of the 10 outputs as a separate yes/no, "
                 "so 9 easy 'no's lift it near 1.0. categorical_accuracy is the real 10-class "
                 "accuracy.")


def _trial_columns(cfg: Config, summary: pd.DataFrame) -> pd.DataFrame:
    wanted = list(dict.fromkeys(c.format(m=cfg.objective.metric) for c in TRIAL_COLUMNS))
    wanted[1:1] = list(cfg.sweep)  # a sweep point's values after the activation
    return summary[[c for c in wanted if c in summary.columns]]


def _notes(summary: pd.DataFrame) -> list[str]:
    notes = [f"{row['trial']} diverged at epoch {int(row['diverged_epoch'])} (non-finite loss) "
             "and was stopped there; it counts as the worst outcome in the ranking and "
             "the tests, and is left out of the means."
             for _, row in summary[summary["status"] == Status.DIVERGED].iterrows()]
    notes += [f"{row['trial']} was pruned at epoch {int(row['pruned_epoch'])} "
              f"({row['pruned_reason']}); it counts as the worst outcome in the ranking "
              "and the tests, and is left out of the means."
              for _, row in summary[summary["status"] == Status.PRUNED].iterrows()]
    notes += [f"{row['trial']} FAILED after {int(row['epochs'])} epoch(s) (left out of the "
              f"statistics; rerun the same command to try it again): {row['error']}"
              for _, row in summary[summary["status"] == Status.FAILED].iterrows()]
    if {"test_binary_accuracy", "test_categorical_accuracy"} <= set(summary.columns):
        notes.append(ACCURACY_NOTE)
    return notes


def _ranking_table(ranking: pd.DataFrame, cfg: Config) -> Table:
    metric, score = cfg.objective.metric, score_column(cfg)
    factor, unit = _scale(cfg)
    shown = f"{metric} %" if unit == "pp" else metric

    def spread(row, col):
        mean, std = row[f"{col}_mean"] * factor, row[f"{col}_std"] * factor
        if row["seeds"] > 1:
            low, high = row[f"{col}_ci95_low"] * factor, row[f"{col}_ci95_high"] * factor
            return f"{mean:.2f} ± {std:.2f} [{low:.2f}, {high:.2f}]"
        return f"{mean:.2f}" if pd.notna(mean) else "-"

    header = ["rank", "activation", "seeds", f"test {shown} (mean ± std [95% CI])",
              "diverged / pruned", "test loss", f"best val {shown}"]
    rows = [[str(row["rank"]), row["activation"], str(row["seeds"]), spread(row, score),
             failures(row), f"{row['test_loss_mean']:.4f}", spread(row, f"best_val_{metric}")]
            for _, row in ranking.iterrows()]
    if "ci_low_vs_best" in ranking and ranking["ci_low_vs_best"].notna().any():
        procedure = ranking["procedure"].iloc[0]
        against = ("the best of the others" if procedure == MCB
                   else ranking["compared_with"].iloc[0])
        header.append(f"vs {against} ({'pp' if unit else metric}, 95%)")
        for cells, (_, row) in zip(rows, ranking.iterrows(), strict=True):
            cells.append(interval_text(row["ci_low_vs_best"], row["ci_high_vs_best"], factor))
    return Table(header, rows)


def interval_text(low: float, high: float, factor: float) -> str:
    """[low, high] scaled, signed, +-inf as ∞; "-" when there is no interval."""
    if pd.isna(low) or pd.isna(high):
        return "-"

    def one(value: float) -> str:
        return ("+∞" if value > 0 else "-∞") if np.isinf(value) else f"{value * factor + 0.0:+.2f}"
    return f"[{one(low)}, {one(high)}]"


def failures(row: pd.Series) -> str:
    """Beside the mean: how many of the activation's counted seeds diverged or were pruned
    (they count as the worst outcome in the order and the tests, not in the mean)."""
    counted = int(row.get("counted", row["seeds"]))
    parts = [f"{int(row[k])} {k}" for k in ("diverged", "pruned") if int(row.get(k, 0))]
    return f"{' + '.join(parts)} of {counted}" if parts else f"0 of {counted}"


def _clip_text(cfg: Config) -> str:
    o = cfg.training.optimizer
    for key in ("clipvalue", "clipnorm", "global_clipnorm"):
        if getattr(o, key) is not None:
            return f", {key} {getattr(o, key)}"
    return ", no gradient clipping"
