"""The report's charts, drawn by matplotlib (Agg, no display) as SVG to inline in the HTML.

Text is drawn as paths (svg.fonttype "path"), so the file needs no font; the metadata block
(which names web addresses) is dropped, so nothing in the SVG points off the page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
COLOURS = ("#1f5f8b", "#c8553d")


def _figure(width: float, height: float) -> Figure:
    # matplotlib is imported on first use: every `reflect` command and the web process load
    # this module, and only a report with charts needs it.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _svg(figure: Figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "reflect-report"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return _METADATA.sub("", _PROLOGUE.sub("", buffer.getvalue(), count=1))


def bars(title: str, axis: str, items: Sequence[tuple[str, float]], suffix: str = "") -> str:
    """Horizontal bars, largest at the top, each labelled with its value and ``suffix``."""
    height = 1.2 + 0.32 * max(len(items), 1)
    figure = _figure(7.5, height)
    ax = figure.subplots()
    labels = [name for name, _ in reversed(items)]
    values = [value for _, value in reversed(items)]
    ax.barh(labels, values, color=COLOURS[0])
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:g}{suffix}", va="center", fontsize=8)
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(axis, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def lines(title: str, axis: str, months: Sequence[str], series: dict[str, list[int | None]]) -> str:
    """One line per series across the months; a hidden month is a gap, never a guess."""
    figure = _figure(7.5, 3.2)
    ax = figure.subplots()
    for colour, (name, values) in zip(COLOURS, series.items(), strict=False):
        ax.plot(
            months,
            [float("nan") if v is None else v for v in values],
            marker="o",
            label=name,
            color=colour,
        )
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(axis, fontsize=9)
    ax.set_ylim(bottom=0)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(figure)
