"""The report as markdown (summary.md): readable in a terminal, an editor or on GitHub."""

from __future__ import annotations

from pathlib import Path

from actsearch.reporting.document import Bullets, Figure, Preformatted, Report, Table


def render_markdown(report: Report, root: Path) -> str:
    """Figures are linked relative to `root`, the folder summary.md is written to."""
    lines = [f"# {report.title}", ""]
    for block in report.intro:
        lines += _block(block, root)
    for section in report.sections:
        if section.html_only:
            continue
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += _block(block, root)
    return "\n".join(lines)


def _block(block, root: Path) -> list[str]:
    if isinstance(block, Table):
        return [markdown_table(block), ""]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items] + [""] if block.items else []
    if isinstance(block, Figure):
        return [f"![{block.path.stem}]({block.path.relative_to(root).as_posix()})", ""]
    if isinstance(block, Preformatted):
        return ["```", block.text.rstrip(), "```", ""]
    return [block, ""]


def markdown_table(table: Table) -> str:
    lines = ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines)
