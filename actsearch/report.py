"""The report of a results folder: tables, statistics, summary.md, plots and report.html.

Everything here is rebuilt from the files on disk, never from memory, so a resumed or
re-plotted run reports exactly what was kept.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from actsearch.config import Config
from actsearch.diagnostic_plots import plot_diagnostics
from actsearch.losses import LOSSES
from actsearch.plots import plot_results
from actsearch.results import (
    ResultsDir,
    Trial,
    markdown_table,
    tidy_diagnostics,
    tidy_histories,
    trial_summary,
    write_atomic,
)
from actsearch.statistics import aggregate, compare_to_best


def write_report(cfg: Config, results: ResultsDir, trials: list[Trial]) -> pd.DataFrame:
    """histories.csv, summary.csv, statistics.csv, summary.md, the plots and report.html,
    all rebuilt from what is on disk (so `actsearch plot` and a resumed run agree)."""
    histories = tidy_histories(results, trials)
    write_atomic(results.root / "histories.csv", histories.to_csv(index=False))
    summary = trial_summary(cfg, results, trials)
    write_atomic(results.root / "summary.csv", summary.to_csv(index=False))
    ranking = rank_activations(cfg, summary)
    write_atomic(results.root / "statistics.csv", ranking.to_csv(index=False))
    diag = tidy_diagnostics(results, trials)
    if not diag.empty:
        write_atomic(results.root / "diagnostics.csv", diag.to_csv(index=False))
    diag_table = diagnostics_table(diag)
    write_atomic(results.root / "summary.md",
                 summary_markdown(cfg, summary, ranking, diag_table))
    plots = plot_results(histories, results.plots, cfg.plots.metric, cfg.plots.exclude,
                         cfg.data.validation)
    plots += plot_diagnostics(diag, results.plots)
    pngs = [p for p in plots if p.suffix == ".png"]
    write_atomic(results.root / "report.html",
                 report_html(cfg, results, summary, ranking, diag_table, pngs))
    return summary


def _score_columns(cfg: Config) -> tuple[str, list[str]]:
    """The column that ranks activations (test accuracy) and every column worth a statistic."""
    metric = cfg.plots.metric
    return f"test_{metric}", [f"test_{metric}", "test_loss", f"best_val_{metric}"]


def rank_activations(cfg: Config, summary: pd.DataFrame) -> pd.DataFrame:
    """Per activation over seeds: mean, std, 95% CI; ranked by test accuracy; each compared
    with the best by Welch's t-test."""
    score, columns = _score_columns(cfg)
    if summary.empty or score not in summary:  # nothing finished, or every trial failed
        return pd.DataFrame()
    table = aggregate(summary, columns)
    table = table.sort_values(f"{score}_mean", ascending=False, na_position="last")
    table.insert(0, "rank", range(1, len(table) + 1))
    comparisons = {c.activation: c for c in compare_to_best(summary, score)}
    table["diff_to_best"] = [comparisons[a].difference if a in comparisons else 0.0
                             for a in table["activation"]]
    table["p_value_vs_best"] = [comparisons[a].p_value if a in comparisons else float("nan")
                                for a in table["activation"]]
    table["cohens_d_vs_best"] = [comparisons[a].cohens_d if a in comparisons else float("nan")
                                 for a in table["activation"]]
    return table.reset_index(drop=True)


def diagnostics_table(diag: pd.DataFrame) -> pd.DataFrame:
    """Per activation, mean over seeds: the first-to-last layer gradient ratio (before
    training, after epoch 1, at the end), the most any layer's gradient was clipped in
    epoch 1, dead units per hidden layer at the end, and the top hidden layer's output
    statistics at the end."""
    if diag.empty:
        return pd.DataFrame()
    layers = list(dict.fromkeys(diag["layer"]))
    hidden = list(dict.fromkeys(diag.loc[diag["act_std"].notna(), "layer"]))
    first, last, top = layers[0], layers[-1], hidden[-1] if hidden else None
    at_end = diag[diag["epoch"] == diag.groupby("trial")["epoch"].transform("max")]
    rows = []
    for activation, runs in diag.groupby("activation", sort=False):
        norms = runs.pivot_table(index=["trial", "epoch"], columns="layer", values="grad_norm")
        ratio = (norms[first] / norms[last]).groupby("epoch").mean()
        end = at_end[at_end["activation"] == activation].groupby("layer").mean(
            numeric_only=True)
        epoch1 = runs[runs["epoch"] == 1]
        row = {"activation": activation,
               f"grad {first}/{last} start": ratio.get(0, float("nan")),
               f"grad {first}/{last} epoch 1": ratio.get(1, float("nan")),
               f"grad {first}/{last} end": float(ratio.iloc[-1]),
               "max clipped % epoch 1": 100 * epoch1["clipped_fraction"].max()}
        for layer in hidden:
            row[f"dead % {layer}"] = 100 * end.loc[layer, "dead_fraction"]
        if top is not None:
            row[f"inactive % {top}"] = 100 * end.loc[top, "inactive_fraction"]
            row[f"{top} mean"] = end.loc[top, "act_mean"]
            row[f"{top} std"] = end.loc[top, "act_std"]
        rows.append(row)
    return pd.DataFrame(rows)


DIAGNOSTICS_INTRO = (
    "Measured on a fixed probe batch of training images, in inference mode. grad a/b: "
    "kernel gradient norm of the first layer over the last, before clipping (far below 1: "
    "vanishing gradients). clipped: share of gradient entries the clip value cuts. dead: "
    "units whose output is 0 on every probe image; inactive: output <= 0 on every image "
    "(dead for ReLU; Leaky ReLU and ELU still pass a gradient there). mean/std: of the top "
    "hidden layer's outputs (SELU aims at 0 and 1). Details: diagnostics.csv and plots/.")


def _diagnostic_number(value) -> str:
    """Ratios span many orders of magnitude; percentages and stats do not."""
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return "-"
    return f"{value:.2g}" if abs(value) < 0.01 and value != 0 else f"{value:.3g}"


def describe_setup(cfg: Config) -> str:
    """One paragraph: what data, how validated, how trained. Shared by summary.md and HTML."""
    data = cfg.data
    source = data.path or data.dataset
    sizes = ", ".join(f"{k} {getattr(data, k)}" for k in ("limit_train", "limit_test")
                      if getattr(data, k))
    val = ("the test set (as the article)" if data.validation == "test"
           else f"{data.validation_split:.0%} of the training set, held out; the test set is "
           f"used once, at the end")
    restore = "; test metrics use the best-validation weights" if cfg.training.restore_best else ""
    return (f"Data: {source}{' (' + sizes + ')' if sizes else ''}; validation on {val}{restore}. "
            f"{cfg.training.epochs} epochs, batch {cfg.training.batch_size}, "
            f"loss {cfg.training.loss} ({LOSSES[cfg.training.loss].description}), "
            f"Adam lr {cfg.training.optimizer.learning_rate}"
            f"{_clip_text(cfg)}; seeds {', '.join(map(str, cfg.training.seeds))}.")


TRIAL_COLUMNS = ["activation", "seed", "status", "epochs", "final_val_{m}", "best_val_{m}",
                 "best_epoch", "test_loss", "test_binary_accuracy", "test_categorical_accuracy",
                 "mean_epoch_seconds", "params"]
ACCURACY_NOTE = ("binary_accuracy is what Keras reported as 'accuracy' for binary_crossentropy "
                 "in the article's days: it scores each of the 10 outputs as a separate yes/no, "
                 "so 9 easy 'no's lift it near 1.0. categorical_accuracy is the real 10-class "
                 "accuracy.")


def _trial_table(cfg: Config, summary: pd.DataFrame) -> pd.DataFrame:
    wanted = [c.format(m=cfg.plots.metric) for c in TRIAL_COLUMNS]
    return summary[[c for c in wanted if c in summary.columns]]


def _notes(summary: pd.DataFrame) -> list[str]:
    notes = [f"{row['trial']} diverged at epoch {int(row['diverged_epoch'])} (non-finite loss) "
             "and was stopped there; it is left out of the statistics."
             for _, row in summary[summary["status"] == "diverged"].iterrows()]
    notes += [f"{row['trial']} FAILED after {int(row['epochs'])} epoch(s) (left out of the "
              f"statistics; rerun the same command to try it again): {row['error']}"
              for _, row in summary[summary["status"] == "failed"].iterrows()]
    if {"test_binary_accuracy", "test_categorical_accuracy"} <= set(summary.columns):
        notes.append(ACCURACY_NOTE)
    return notes


def _comparison_intro(metric: str) -> str:
    return (f"Welch's t-test on test {metric} over seeds, best activation against each other; "
            "d is Cohen's d (difference in pooled standard deviations).")


def summary_markdown(cfg: Config, summary: pd.DataFrame, ranking: pd.DataFrame,
                     diag_table: pd.DataFrame | None = None) -> str:
    lines = [f"# {cfg.name}: activation comparison", "", describe_setup(cfg), ""]
    if summary.empty:
        return "\n".join(lines + ["No trial has finished yet.", ""])
    metric = cfg.plots.metric
    score, _ = _score_columns(cfg)
    lines += ["## Ranking", "", _ranking_table(ranking, score, metric), ""]
    comparisons = compare_to_best(summary, score)
    if comparisons:
        lines += ["## How sure is the ranking?", "", _comparison_intro(metric), ""]
        lines += [f"- {c.sentence()}" for c in comparisons] + [""]
    if diag_table is not None and not diag_table.empty:
        lines += ["## Inside the networks", "", DIAGNOSTICS_INTRO, "",
                  markdown_table(diag_table, _diagnostic_number), ""]
    lines += ["## Trials", "", markdown_table(_trial_table(cfg, summary)), ""]
    lines += [f"- {note}" for note in _notes(summary)] + [""]
    return "\n".join(lines)


def report_html(cfg: Config, results: ResultsDir, summary: pd.DataFrame,
                ranking: pd.DataFrame, diag_table: pd.DataFrame, pngs: list[Path]) -> str:
    """One self-contained page (plots embedded as data: URIs) that opens with no server."""
    esc = html.escape
    parts = [f"<h1>{esc(cfg.name)}: activation comparison</h1>",
             f"<p>{esc(describe_setup(cfg))}</p>"]
    if summary.empty:
        parts.append("<p>No trial has finished yet.</p>")
    else:
        metric = cfg.plots.metric
        score, _ = _score_columns(cfg)
        parts += ["<h2>Ranking</h2>", _html_table(_ranking_table(ranking, score, metric))]
        comparisons = compare_to_best(summary, score)
        if comparisons:
            parts += ["<h2>How sure is the ranking?</h2>",
                      f"<p>{esc(_comparison_intro(metric))}</p>",
                      _html_list(c.sentence() for c in comparisons)]
    if not diag_table.empty:
        diag_html = _html_table(markdown_table(diag_table, _diagnostic_number))
        parts += ["<h2>Inside the networks</h2>", f"<p>{esc(DIAGNOSTICS_INTRO)}</p>",
                  f'<div class="wide">{diag_html}</div>']
    parts.append("<h2>Plots</h2>")
    for png in pngs:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        wide = ' class="full"' if png.stem.startswith("diagnostics") else ""
        parts.append(f'<figure{wide}><img alt="{esc(png.stem)}" '
                     f'src="data:image/png;base64,{data}">'
                     f"<figcaption>{esc(png.name)}</figcaption></figure>")
    if not summary.empty:
        trials_html = _html_table(markdown_table(_trial_table(cfg, summary)))
        parts += ["<h2>Trials</h2>",
                  f'<div class="wide">{trials_html}</div>',
                  _html_list(_notes(summary))]
    env_path = results.root / "env.json"
    env_text = env_path.read_text() if env_path.is_file() else "{}"
    parts += ["<h2>Config</h2>", f"<pre>{esc((results.root / 'config.yaml').read_text())}</pre>",
              "<h2>Environment</h2>", f"<pre>{esc(env_text)}</pre>"]
    return HTML_PAGE.format(title=esc(cfg.name), body="\n".join(parts))


def _html_list(items) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"


def _html_table(markdown: str) -> str:
    """The markdown tables above, as HTML: one formatting of the numbers for both files."""
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines()
            if not line.startswith("|---")]

    def cells(row: list[str], tag: str) -> str:
        return "".join(f"<{tag}>{html.escape(c.strip())}</{tag}>" for c in row)

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows[1:])
    return f"<table><thead><tr>{cells(rows[0], 'th')}</tr></thead><tbody>{body}</tbody></table>"


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - actsearch report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th {{ background: #f0f0f0; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 520px; }}
figure.full {{ display: block; }} figure.full img {{ max-width: 100%; }}
figcaption {{ font-size: 0.8em; color: #666; text-align: center; }}
.wide {{ overflow-x: auto; }}
pre {{ background: #f7f7f7; padding: 1em; overflow: auto; }}
</style></head>
<body>
{body}
<script>
// Marks how many embedded plots decoded, so a headless browser test can check them.
window.addEventListener("load", () => {{
  const imgs = [...document.images];
  document.body.dataset.imagesLoaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesTotal = imgs.length;
}});
</script>
</body></html>
"""


def _ranking_table(ranking: pd.DataFrame, score: str, metric: str) -> str:
    def spread(row, col, scale=1.0):
        mean, std = row[f"{col}_mean"] * scale, row[f"{col}_std"] * scale
        if row["seeds"] > 1:
            low, high = row[f"{col}_ci95_low"] * scale, row[f"{col}_ci95_high"] * scale
            return f"{mean:.2f} ± {std:.2f} [{low:.2f}, {high:.2f}]"
        return f"{mean:.2f}" if pd.notna(mean) else "-"

    lines = [f"| rank | activation | seeds | test {metric} % (mean ± std [95% CI]) | "
             f"test loss | best val {metric} % | diverged |", "|---|---|---|---|---|---|---|"]
    for _, row in ranking.iterrows():
        loss = row["test_loss_mean"]
        lines.append(f"| {row['rank']} | {row['activation']} | {row['seeds']} | "
                     f"{spread(row, score, 100)} | {loss:.4f} | "
                     f"{spread(row, f'best_val_{metric}', 100)} | {row['diverged']} |")
    return "\n".join(lines)


def _clip_text(cfg: Config) -> str:
    o = cfg.training.optimizer
    for key in ("clipvalue", "clipnorm", "global_clipnorm"):
        if getattr(o, key) is not None:
            return f", {key} {getattr(o, key)}"
    return ", no gradient clipping"


