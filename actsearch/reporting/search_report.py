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
    table_from_frame,
)
from actsearch.reporting.html import render_html
from actsearch.reporting.markdown import markdown_table, render_markdown
from actsearch.reporting.plots import new_figure, save_figure

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


def _number(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _shown(board: pd.DataFrame) -> pd.DataFrame:
    return board.drop(columns=["fingerprint", "score", "index", "batch", "trial"],
                      errors="ignore")


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
                        best: list[str], baselines: list[str], intro: list[str],
                        config_text: str, objective: str) -> dict[str, Path]:
    """leaderboard.csv/.md, plots/shapes and plots/progress, summary.md and report.html in
    `root`; returns their paths by name."""
    paths = write_leaderboard(root, title, board)
    pngs = [p for p in plot_shapes(best, baselines, root / "plots" / "shapes")
            + plot_progress(progress, objective, root / "plots" / "progress")
            if p.suffix == ".png"]
    refused = board[board["screening"] != "ok"] if not board.empty else board
    failed = (board[board["status"] == "failed"]
              if not board.empty and "status" in board else board.iloc[0:0])
    sections = [
        Section("Leaderboard", [table_from_frame(
            _shown(board).drop(columns=["screening_detail", "error"], errors="ignore")
            .head(SHOWN_ROWS), _number, wide=True),
                                f"Every candidate: {paths['leaderboard'].name}."]),
        Section("Not trained", [Bullets([f"{r['expression']}: {r['screening_detail']}"
                                         for _, r in refused.iterrows()])
                                if not refused.empty else "Every candidate passed screening."]),
        Section("Failed", [Bullets([f"{r['expression']}: {r['error']}"
                                    for _, r in failed.iterrows()])
                           if not failed.empty else "No candidate's training failed."]),
        Section("Plots", [Figure(p, wide=True) for p in pngs], html_only=True),
        Section("Config", [Preformatted(config_text)], html_only=True),
    ]
    report = Report(title, list(intro), sections)
    write_atomic(paths["summary"], render_markdown(report, root))
    write_atomic(paths["report"], render_html(report))
    return paths
