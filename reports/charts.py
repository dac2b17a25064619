"""Charts for the registry report: matplotlib (Agg) drawn to SVG text that is embedded inline.

The SVG is deterministic (fixed hash salt, no date, text kept as text), so the same
determinations give the same bytes; each chart's element ids carry a prefix so two charts can
sit in one page.
"""
from __future__ import annotations

import io
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import matplotlib

matplotlib.use("Agg")

from matplotlib import dates as mdates  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rules.engine.formatting import format_quantity  # noqa: E402
from rules.engine.vocabulary import Status  # noqa: E402

RC = {
    "svg.hashsalt": "compute-threshold-registry",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
STATUS_STYLE = {
    Status.COVERED: ("#b2182b", "o", "covered under a regime"),
    Status.INDETERMINATE: ("#e08214", "D", "indeterminate under a regime"),
    Status.NOT_COVERED: ("#4d7ea8", "o", "covered under none"),
}


@dataclass(frozen=True)
class ChartPoint:
    when: date
    value: float
    status: str  # covered, indeterminate or not_covered: the subject's most severe status
    label: str

    def __post_init__(self) -> None:
        # a chart draws on a log scale: an exact figure (an int beyond 64 bits) is plotted as a float
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True)
class ThresholdLine:
    value: float
    label: str
    in_force: bool
    gid: str
    in_force_regimes: tuple[str, ...] = ()
    other_regimes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))


MONTH_STEPS = (1, 3, 6, 12, 24, 60, 120)  # months per cell, coarsened until the columns fit
EIGHTH_STEPS = (1, 2, 4, 8, 16)  # eighths of a decade per cell
MAX_COLUMNS, MAX_ROWS = 30, 18
STATUS_OFFSET = {Status.NOT_COVERED: -0.25, Status.INDETERMINATE: 0.0, Status.COVERED: 0.25}  # of a cell's width
STEP_WORDS = {1: "1 month", 3: "3 months", 6: "6 months", 12: "1 year", 24: "2 years", 60: "5 years",
              120: "10 years"}
DECADE_WORDS = {1: "1/8", 2: "1/4", 4: "1/2", 8: "1", 16: "2"}


@dataclass
class Binned:
    """Points counted, not kept: by status in cells of one month × 1/8 decade (coarsened when drawn),
    so a chart of any number of subjects holds at most a few thousand numbers."""

    counts: Counter[tuple[int, int, str]] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    first: date | None = None
    last: date | None = None
    low: float | None = None
    high: float | None = None

    def add(self, point: ChartPoint) -> None:
        month = point.when.year * 12 + point.when.month - 1
        self.counts[(month, math.floor(math.log10(point.value) * 8), point.status)] += 1
        self.by_status[point.status] += 1
        self.first = point.when if self.first is None else min(self.first, point.when)
        self.last = point.when if self.last is None else max(self.last, point.when)
        self.low = point.value if self.low is None else min(self.low, point.value)
        self.high = point.value if self.high is None else max(self.high, point.value)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


class PointCollector:
    """Points kept one by one up to `limit`; past that every point is counted in a `Binned` grid instead."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.points: list[tuple[str, ChartPoint]] = []
        self.binned: Binned | None = None

    def add(self, point: ChartPoint, *, key: str = "") -> None:
        """Keeps the point (drawn in `key` order), or counts it once past the limit."""
        if self.binned is not None:
            self.binned.add(point)
            return
        self.points.append((key, point))
        if len(self.points) > self.limit:
            self.binned = Binned()
            for _, kept in self.points:
                self.binned.add(kept)
            self.points = []

    def sorted_points(self) -> list[ChartPoint]:
        return [point for _, point in sorted(self.points, key=lambda pair: pair[0])]


def _month_start(month: int) -> date:
    return date(month // 12, month % 12 + 1, 1)


def _draw_binned(axes: Axes, binned: Binned, noun: str) -> tuple[list, str]:
    """Each (cell, status) as one mark at the cell's centre (statuses side by side), its area
    proportional to the number of subjects; returns the legend handles and the chart's note."""
    months = [month for month, _, _ in binned.counts]
    eighths = [eighth for _, eighth, _ in binned.counts]
    step = next((m for m in MONTH_STEPS if max(months) // m - min(months) // m < MAX_COLUMNS), MONTH_STEPS[-1])
    rise = next((e for e in EIGHTH_STEPS if max(eighths) // e - min(eighths) // e < MAX_ROWS), EIGHTH_STEPS[-1])
    cells: Counter[tuple[int, int, str]] = Counter()
    for (month, eighth, status), count in binned.counts.items():
        cells[(month // step, eighth // rise, status)] += count
    largest = max(cells.values())
    biggest_area = 70.0  # points², the largest mark
    handles = []
    for status, (colour, marker, legend) in STATUS_STYLE.items():
        mine = sorted((column, row, count) for (column, row, s), count in cells.items() if s == status)
        if not mine:
            continue
        xs, ys, sizes = [], [], []
        for column, row, count in mine:
            start, end = _month_start(column * step), _month_start((column + 1) * step)
            width = mdates.date2num(end) - mdates.date2num(start)
            xs.append(mdates.date2num(start) + width * (0.5 + STATUS_OFFSET[status]))
            ys.append(10 ** ((row + 0.5) * rise / 8))
            sizes.append(max(3.0, biggest_area * count / largest))
        handles.append(axes.scatter(xs, ys, s=sizes, c=colour, marker=marker, alpha=0.8, zorder=3,
                                    edgecolors="white", linewidths=0.3,
                                    label=f"{legend} ({binned.by_status[status]:,})"))
    note = (f"{binned.total:,} {noun}, too many to draw one by one, counted in cells of "
            f"{STEP_WORDS.get(step, f'{step} months')} × {DECADE_WORDS.get(rise, f'{rise}/8')} decade:\n"
            f"one mark per status and cell, its area proportional to its {noun} (largest mark: {largest:,})")
    return handles, note


def _ids_prefixed(svg: str, prefix: str) -> str:
    svg = re.sub(r'\bid="', f'id="{prefix}-', svg)
    svg = re.sub(r"url\(#", f"url(#{prefix}-", svg)
    return re.sub(r'xlink:href="#', f'xlink:href="#{prefix}-', svg)


def _svg_text(figure: Figure, prefix: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):].strip()  # inline in HTML: no XML declaration or DOCTYPE
    return _ids_prefixed(text, prefix)


def threshold_chart(
    *,
    points: Sequence[ChartPoint],
    thresholds: Sequence[ThresholdLine],
    title: str,
    ylabel: str,
    prefix: str,
    as_of: date,
    labelled: int = 12,
    binned: Binned | None = None,
    noun: str = "subjects",
) -> str:
    """Values against dates on a log scale, with a horizontal line at each threshold.

    Covered subjects are labelled when there are at most `labelled` of them; the legend beside the
    plot names each threshold's regimes, and a short tag on the line gives its value. With `binned`
    (too many subjects to draw one by one), the counts per cell are drawn instead of `points`, and
    the chart says so under its title.
    """
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(7.4, 3.9))
        axes = figure.add_axes((0.085, 0.1, 0.58, 0.8))
        axes.set_yscale("log")
        axes.set_title(title, loc="left")
        axes.set_ylabel(ylabel)
        handles = []
        if binned is not None and binned.total:
            points = []
            handles, note = _draw_binned(axes, binned, noun)
            axes.text(0.0, 1.0, note, transform=axes.transAxes, ha="left", va="bottom", fontsize=5.5,
                      color="#555555", linespacing=1.1)
            axes.set_title(title, loc="left", pad=18)
        for status, (colour, marker, legend) in STATUS_STYLE.items():
            mine = [p for p in points if p.status == status]
            if mine:
                handles.append(axes.scatter([p.when for p in mine], [p.value for p in mine], s=18, c=colour,
                                            marker=marker, label=f"{legend} ({len(mine)})", zorder=3,
                                            edgecolors="white", linewidths=0.4))
        covered = [p for p in points if p.status == Status.COVERED]
        if points and len(covered) <= labelled:
            for index, point in enumerate(sorted(covered, key=lambda p: (p.when, p.value))):
                axes.annotate(point.label, xy=(point.when, point.value), xytext=(4, 5 if index % 2 == 0 else -9),
                              textcoords="offset points", fontsize=5.5, color="#8a1020", zorder=4, parse_math=False)
        extent = [binned.low, binned.high] if binned is not None and binned.total else []
        values = [p.value for p in points] + [t.value for t in thresholds] + extent
        if values:
            axes.set_ylim(min(values) / 10, max(values) * 10)
        dates = [p.when for p in points] + [as_of] + (
            [binned.first, binned.last] if binned is not None and binned.total else [])
        start, end = min(dates), max(dates)
        span = max((end - start).days, 365)
        axes.set_xlim(mdates.date2num(start) - span * 0.04, mdates.date2num(end) + span * 0.06)
        for line in thresholds:
            colour = "#222222" if line.in_force else "#888888"
            drawn = axes.axhline(line.value, color=colour, linestyle="-" if line.in_force else "--",
                                 linewidth=0.8, zorder=2, label=line.label)
            drawn.set_gid(line.gid)
            handles.append(drawn)
            axes.annotate(format_quantity(line.value), xy=(1.0, line.value),
                          xycoords=("axes fraction", "data"), xytext=(2, 0), textcoords="offset points",
                          ha="left", va="center", fontsize=6, color=colour)
        axes.axvline(mdates.date2num(as_of), color="#bbbbbb", linewidth=0.6, linestyle=":")
        locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axes.grid(True, which="major", axis="y", color="#eeeeee", linewidth=0.5)
        if not points and not (binned is not None and binned.total):
            axes.text(0.5, 0.5, "no subject with a recorded value and date", transform=axes.transAxes,
                      ha="center", va="center", color="#777777")
        figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.71, 0.9), fontsize=6, frameon=False,
                      title=f"dotted line: as of {as_of.isoformat()}", title_fontsize=6, alignment="left")
        return _svg_text(figure, prefix)
