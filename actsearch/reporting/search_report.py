"""The report of an activation search: the leaderboard (CSV and markdown), the best
candidates' shapes and derivatives beside the baselines, the progress of the search, and one
report model rendered to summary.md and report.html (as an experiment's report)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from actsearch.files import write_atomic
from actsearch.reporting.activation_plots import X_RANGE, evaluate
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
from actsearch.reporting.markdown import markdown_table, render_markdown
from actsearch.reporting.plots import new_figure, save_figure
from actsearch.statistics import MIN_CORRELATION_PAIRS, ScorePair

SHOWN_ROWS = 30  # rows of the leaderboard in the report; the CSV has every candidate


def plot_shapes(best: list[str], baselines: list[str], stem: Path) -> list[Path]:
    """f(x) and f'(x) (autodiff of the layer that trains) of the best candidates, solid, beside
    the baselines, dashed grey-scale, side by side."""
    x = np.linspace(*X_RANGE, 801)
    fig = new_figure(figsize=(12, 5))
    axes = fig.subplots(1, 2)
    grays = np.linspace(0.15, 0.6, max(1, len(baselines)))
    for i, name in enumerate(baselines):
        f, df = evaluate(name, x)
        for ax, values in zip(axes, (f, df), strict=True):
            ax.plot(x, values, "--", color=str(grays[i]), lw=1.3, label=name)
    for name in best:
        f, df = evaluate(name, x)
        for ax, values in zip(axes, (f, df), strict=True):
            ax.plot(x, values, "-", lw=1.9, label=name)
    for ax, (title, ylim) in zip(axes, (("f(x)", (-2.0, 4.0)),
                                        ("f'(x) by autodiff", (-1.0, 2.0))), strict=True):
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_ylim(*ylim)
        ax.set_xlabel("x")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    return save_figure(fig, stem)


def plot_progress(progress: pd.DataFrame, objective: str, stem: Path) -> list[Path]:
    """Each candidate's first-rung and final-rung objective, and the best final one so far,
    against the number of candidates trained."""
    fig = new_figure(figsize=(8, 5))
    ax = fig.subplots()
    if not progress.empty:
        first = progress.columns[2]
        ax.plot(progress["candidates"], progress[first], ".", color="0.6", label="rung 0")
        final = progress.dropna(subset=["final"])
        ax.plot(final["candidates"], final["final"], "o", ms=4, label="final rung")
        ax.step(progress["candidates"], progress["best_so_far"], where="post", lw=1.8,
                label="best so far (final rung)")
        ax.legend(fontsize=9)
    ax.set_xlabel("candidates trained")
    ax.set_ylabel(objective)
    ax.set_title("Search progress")
    ax.grid(True, alpha=0.3)
    return save_figure(fig, stem)


def correlation_sentence(pair: ScorePair) -> str:
    c = pair.correlation
    if c.rho is None:
        why = "one score is constant" if c.n >= 2 else "too few candidates have both"
        return f"{pair.first} -> {pair.second}: no correlation ({why}; n = {c.n})."
    interval = (f", 95% interval [{c.low:.2f}, {c.high:.2f}]" if c.low is not None
                else f" (too few for an interval: fewer than {MIN_CORRELATION_PAIRS})")
    return f"{pair.first} -> {pair.second}: Spearman rho {c.rho:.2f}{interval}, n = {c.n}."


def plot_correlations(pairs: list[ScorePair], stem: Path) -> list[Path]:
    """One scatter per pair of scores (each point a candidate), titled with rho."""
    fig = new_figure(figsize=(4.5 * max(1, len(pairs)), 4.2))
    axes = np.atleast_1d(fig.subplots(1, max(1, len(pairs))))
    for ax, pair in zip(axes, pairs, strict=False):
        ax.plot(pair.x, pair.y, ".", alpha=0.6)
        c = pair.correlation
        rho = "-" if c.rho is None else f"{c.rho:.2f}"
        interval = "" if c.low is None else f" [{c.low:.2f}, {c.high:.2f}]"
        ax.set_title(f"rho {rho}{interval}, n = {c.n}", fontsize=10)
        ax.set_xlabel(pair.first)
        ax.set_ylabel(pair.second)
        ax.grid(True, alpha=0.3)
    return save_figure(fig, stem)


FIDELITY_TITLES = {"retest": "rung {k}: seed against seed",
                   "next_rung": "rung {k} -> rung {k1}",
                   "confirm": "rung {k} -> confirm protocol"}


def fidelity_label(kind: str, rung: int) -> str:
    return FIDELITY_TITLES[kind].format(k=rung, k1=rung + 1)


def plot_fidelity(pairs: pd.DataFrame, table: pd.DataFrame, stem: Path) -> list[Path]:
    """One scatter per measured pair of scores (retest, next rung, confirm), the random
    sample's points blue (grey where at chance), the top's orange, titled with both rhos."""
    groups = list(pairs.groupby(["kind", "rung"], sort=False))
    columns = min(4, max(1, len(groups)))
    rows = -(-max(1, len(groups)) // columns)
    fig = new_figure(figsize=(3.6 * columns, 3.3 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    for ax, ((kind, rung), group) in zip(axes, groups, strict=False):
        random = group[group["sample"] == "random"]
        above = random["above_chance"].astype(bool)
        top = group[group["sample"] == "top"]
        ax.plot(top["score_a"], top["score_b"], "o", ms=8, mfc="none", mew=1.5,
                color="tab:orange", label="top")  # hollow: a point in both samples shows both
        ax.plot(random[above]["score_a"], random[above]["score_b"], "o", ms=4,
                color="tab:blue", alpha=0.8, label="random")
        ax.plot(random[~above]["score_a"], random[~above]["score_b"], "o", ms=4,
                color="0.65", alpha=0.8, label="random, at chance")
        figures = []
        for sample, short in (("random", "rnd"), ("top", "top")):
            row = table[(table["kind"] == kind) & (table["rung"] == rung)
                        & (table["sample"] == sample)]
            rho = row["rho"].iloc[0] if not row.empty else None
            figures.append(f"{short} {'-' if rho is None or pd.isna(rho) else f'{rho:.2f}'}")
        ax.set_title(f"{fidelity_label(kind, rung)}\nrho {', '.join(figures)}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    if groups:
        axes[0].legend(fontsize=7)
    fig.supxlabel("first score (the lower rung, or the first seed)", fontsize=9)
    fig.supylabel("second score", fontsize=9)
    return save_figure(fig, stem)


def fidelity_block(table: pd.DataFrame) -> Table:
    """The fidelity figures as a short table, one row per pair of scores: rho with its 95%
    interval and n for the random sample, its part above chance and the top, then the
    retest's noise and the spread of the rung's top."""
    def short(value) -> str:
        return "-" if value is None or pd.isna(value) else f"{value:.3g}"

    def figure(row: pd.Series | None) -> str:
        if row is None:
            return "-"
        rho = "-" if row["rho"] is None or pd.isna(row["rho"]) else f"{row['rho']:.2f}"
        if row["low"] is not None and not pd.isna(row["low"]):
            rho += f" [{row['low']:.2f}, {row['high']:.2f}]"
        return f"{rho} (n {row['n']})"

    rows = []
    for (kind, rung), group in table.groupby(["kind", "rung"], sort=False):
        by = {r["sample"]: r for _, r in group.iterrows()}
        top = by.get("top")
        rows.append([fidelity_label(kind, rung), figure(by.get("random")),
                     figure(by.get("random_above_chance")), figure(top),
                     short(None if top is None else top["noise_sd"]),
                     short(None if top is None else top["top_spread"])])
    return Table(["pair of scores", "random sample", "random, above chance",
                  "top (next rung: the promoted)", "noise sd (top)", "spread sd (top)"], rows)


def take_home_lines(best: list[str]) -> list[str]:
    """The line that puts each candidate into a user's own Keras model."""
    return [f'actsearch.activation_layer("{text}")' for text in best]


def _number(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _short(value) -> str:
    if isinstance(value, float) and not np.isnan(value):
        return f"{value:.3f}"
    return _number(value)


def compact_board(board: pd.DataFrame) -> pd.DataFrame:
    """The report's leaderboard: rank, expression, the validation scores per rung (headed
    rung k loss, rung k <metric>), where it got and its source; the CSV has every column."""
    keep = [c for c in board.columns if c in ("rank", "expression", "status", "source")
            or c.startswith("val_")]
    shown = board[keep].rename(columns=_rung_heading)
    if "rank" in shown:
        shown = shown.assign(rank=shown["rank"].astype("Int64"))
    return shown


def _rung_heading(column: str) -> str:
    """val_loss_rung0 -> rung 0 loss; other columns unchanged."""
    if not (column.startswith("val_") and "_rung" in column):
        return column
    name, k = column.rsplit("_rung", 1)
    return f"rung {k} {name.removeprefix('val_')}"


def _shown(board: pd.DataFrame) -> pd.DataFrame:
    return board.drop(columns=["fingerprint", "score", "index", "batch", "trial"],
                      errors="ignore")


def _shown_rows(n: int) -> str:
    return f"The best {SHOWN_ROWS} of {n:,}" if n > SHOWN_ROWS else f"All {n} proposals"


def leaderboard_paths(root: Path) -> dict[str, Path]:
    return {"leaderboard": root / "leaderboard.csv", "leaderboard_md": root / "leaderboard.md",
            "summary": root / "summary.md", "report": root / "report.html"}


def write_leaderboard(root: Path, title: str, board: pd.DataFrame) -> dict[str, Path]:
    """leaderboard.csv (every candidate) and leaderboard.md in `root`; cheap enough to
    rewrite after every batch."""
    root.mkdir(parents=True, exist_ok=True)
    paths = leaderboard_paths(root)
    write_atomic(paths["leaderboard"], board.to_csv(index=False))
    table = table_from_frame(_shown(board), lambda v: _number(v).replace("|", "\\|"), wide=True)
    write_atomic(paths["leaderboard_md"], f"# {title}: leaderboard\n\n{markdown_table(table)}\n")
    return paths


def write_search_report(root: Path, title: str, board: pd.DataFrame, progress: pd.DataFrame,
                        best: list[str], baselines: list[str], opening: list, about: list[str],
                        config_text: str, objective: str, pairs: list[ScorePair],
                        fidelity: tuple[pd.DataFrame, pd.DataFrame] | None = None,
                        curves: list[Path] | None = None) -> dict[str, Path]:
    """leaderboard.csv/.md, fidelity.csv and fidelity_pairs.csv (`fidelity`: the table and
    its pairs), the plots, summary.md and report.html in `root`; returns their paths by name.
    The report opens with `opening` (the verdict and the fidelity figures), then the figures
    (fidelity, the best candidates' shapes, `curves`: the confirm run's), then the
    leaderboard; `about` (speed, the description) comes after."""
    paths = write_leaderboard(root, title, board)
    plots = root / "plots"
    figures: list[Figure] = []
    if fidelity is not None:
        table, fidelity_pairs = fidelity
        paths["fidelity"], paths["fidelity_pairs"] = root / "fidelity.csv", \
            root / "fidelity_pairs.csv"
        write_atomic(paths["fidelity"], table.to_csv(index=False))
        write_atomic(paths["fidelity_pairs"], fidelity_pairs.to_csv(index=False))
        if not fidelity_pairs.empty:
            figures += [Figure(p, wide=True) for p in plot_fidelity(
                fidelity_pairs, table, plots / "fidelity") if p.suffix == ".png"]
    figures += [Figure(p, wide=True) for p in plot_shapes(best, baselines, plots / "shapes")
                if p.suffix == ".png"]
    figures += [Figure(p) for p in curves or []]
    more = [p for p in plot_progress(progress, objective, plots / "progress")
            + (plot_correlations(pairs, plots / "rung_correlation") if pairs else [])
            if p.suffix == ".png"]
    refused = board[board["screening"] != "ok"] if not board.empty else board
    failed = (board[board["status"] == "failed"]
              if not board.empty and "status" in board else board.iloc[0:0])
    sections = [
        Section("Figures", figures),
        Section("Leaderboard", [table_from_frame(compact_board(board).head(SHOWN_ROWS),
                                                 _short),
                                f"{_shown_rows(len(board))}; every candidate, with every "
                                f"column: {paths['leaderboard'].name}."]),
        Section("Use a candidate in your own model", [
            "After `import actsearch`, each line below is a Keras layer (it saves and reloads "
            "with `keras.models.load_model`):",
            Preformatted("\n".join(take_home_lines(best)) or "(no candidate yet)")]),
        Section("About this search", list(about)),
        Section("Not trained", [Bullets([f"{r['expression']}: {r['screening_detail']}"
                                         for _, r in refused.iterrows()])
                                if not refused.empty else "Every candidate passed screening."]),
        Section("Failed", [Bullets([f"{r['expression']}: {r['error']}"
                                    for _, r in failed.iterrows()])
                           if not failed.empty else "No candidate's training failed."]),
        Section("More plots", [Figure(p) for p in more], html_only=True),
        Section("Config", [Preformatted(config_text)], html_only=True),
    ]
    report = Report(title, list(opening), sections)
    write_atomic(paths["summary"], render_markdown(report, root))
    write_atomic(paths["report"], render_html(report))
    return paths
