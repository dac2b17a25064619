"""Charts for the registry report: matplotlib (Agg) drawn to SVG text that is embedded inline.

The SVG is deterministic (fixed hash salt, no date, text kept as text), so the same
determinations give the same bytes; each chart's element ids carry a prefix so two charts can
sit in one page.
"""
from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import matplotlib

matplotlib.use("Agg")

from matplotlib import dates as mdates  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

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
    "covered": ("#b2182b", "o", "covered under a regime"),
    "indeterminate": ("#e08214", "D", "indeterminate under a regime"),
    "not_covered": ("#4d7ea8", "o", "covered under none"),
}


@dataclass(frozen=True)
class ChartPoint:
    when: date
    value: float
    status: str  # covered, indeterminate or not_covered: the subject's most severe status
    label: str


@dataclass(frozen=True)
class ThresholdLine:
    value: float
    label: str
    in_force: bool
    gid: str
    in_force_regimes: tuple[str, ...] = ()
    other_regimes: tuple[str, ...] = ()


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
) -> str:
    """Values against dates on a log scale, with a horizontal line at each threshold.

    Covered subjects are labelled when there are at most `labelled` of them; the legend beside the
    plot names each threshold's regimes, and a short tag on the line gives its value.
    """
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(7.4, 3.9))
        axes = figure.add_axes((0.085, 0.1, 0.58, 0.8))
        axes.set_yscale("log")
        axes.set_title(title, loc="left")
        axes.set_ylabel(ylabel)
        handles = []
        for status, (colour, marker, legend) in STATUS_STYLE.items():
            mine = [p for p in points if p.status == status]
            if mine:
                handles.append(axes.scatter([p.when for p in mine], [p.value for p in mine], s=18, c=colour,
                                            marker=marker, label=f"{legend} ({len(mine)})", zorder=3,
                                            edgecolors="white", linewidths=0.4))
        covered = [p for p in points if p.status == "covered"]
        if len(covered) <= labelled:
            for index, point in enumerate(sorted(covered, key=lambda p: (p.when, p.value))):
                axes.annotate(point.label, xy=(point.when, point.value), xytext=(4, 5 if index % 2 == 0 else -9),
                              textcoords="offset points", fontsize=5.5, color="#8a1020", zorder=4, parse_math=False)
        values = [p.value for p in points] + [t.value for t in thresholds]
        if values:
            axes.set_ylim(min(values) / 10, max(values) * 10)
        dates = [p.when for p in points] + [as_of]
        start, end = min(dates), max(dates)
        span = max((end - start).days, 365)
        axes.set_xlim(mdates.date2num(start) - span * 0.04, mdates.date2num(end) + span * 0.06)
        for line in thresholds:
            colour = "#222222" if line.in_force else "#888888"
            drawn = axes.axhline(line.value, color=colour, linestyle="-" if line.in_force else "--",
                                 linewidth=0.8, zorder=2, label=line.label)
            drawn.set_gid(line.gid)
            handles.append(drawn)
            axes.annotate(f"{line.value:.0e}".replace("e+", "e"), xy=(1.0, line.value),
                          xycoords=("axes fraction", "data"), xytext=(2, 0), textcoords="offset points",
                          ha="left", va="center", fontsize=6, color=colour)
        axes.axvline(mdates.date2num(as_of), color="#bbbbbb", linewidth=0.6, linestyle=":")
        locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        axes.grid(True, which="major", axis="y", color="#eeeeee", linewidth=0.5)
        if not points:
            axes.text(0.5, 0.5, "no subject with a recorded value and date", transform=axes.transAxes,
                      ha="center", va="center", color="#777777")
        figure.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.71, 0.9), fontsize=6, frameon=False,
                      title=f"dotted line: as of {as_of.isoformat()}", title_fontsize=6, alignment="left")
        return _svg_text(figure, prefix)
