"""The report as data: sections of paragraphs, tables, bullet lists, figures and preformatted
text, built once and rendered separately to markdown (summary.md) and HTML (report.html), so
both say the same thing with the same numbers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]  # cells already formatted
    wide: bool = False  # scrolls sideways in HTML


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Figure:
    path: Path  # a PNG; markdown links it relative to the results folder, HTML embeds it
    wide: bool = False


@dataclass
class Preformatted:
    text: str


Block = str | Table | Bullets | Figure | Preformatted


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    html_only: bool = False  # plots, config and environment: report.html only


@dataclass
class Report:
    title: str
    intro: list[Block]
    sections: list[Section]


def format_number(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def table_from_frame(df: pd.DataFrame, fmt: Callable[[Any], str] = format_number,
                     wide: bool = False) -> Table:
    return Table([str(c) for c in df.columns],
                 [[fmt(row[c]) for c in df.columns] for _, row in df.iterrows()], wide)
