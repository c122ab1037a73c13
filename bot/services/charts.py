"""Charts as PNG bytes, drawn with matplotlib's Agg backend (no display, no pyplot state).

matplotlib is imported inside the functions: it takes a while to load, and most of the bot
(and most tests) never draws anything.

A weekly digest draws one chart per unit, all over the same twelve weeks. Building a Figure
(axes, ticks, labels, legend) costs more than drawing it, so each thread keeps the figure of
the weeks and language it drew last and only changes the data and the title before drawing it
again in full: the same image a new figure gives (tests/test_charts_xlsx.py checks), in less
than half the time.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bot.domain.digest import WeekPoint
from bot.domain.formatting import format_date, format_number
from bot.domain.i18n import Translator

BAR_COLOUR = "#2f6db5"
LINE_COLOUR = "#d9480f"
# Fast zlib: a chart is drawn for every unit of a batch, and a photo's size hardly matters.
PNG_COMPRESSION = 1
KEPT_FIGURES = 4  # per thread: a batch uses one or two (one per language)


class _WeeklyFigure:
    """The chart's figure for one language and one run of weeks, redrawn with new data."""

    def __init__(self, t: Translator, week_labels: tuple[str, ...]) -> None:
        # matplotlib loads for the first chart: 40 MB and 0,9 s that most processes (the
        # CLI, a bot between digests) never need.
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
        from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: PLC0415

        self.figure = Figure(figsize=(8, 4.5), dpi=100)
        FigureCanvasAgg(self.figure)
        positions = list(range(len(week_labels)))
        records_label = t._("Records")
        land_label = t._("Land pledged (m²)")
        self.records_axis = records_axis = self.figure.add_subplot()
        self.bars = records_axis.bar(
            positions, [0] * len(positions), color=BAR_COLOUR, label=records_label
        )
        records_axis.set_ylabel(records_label)
        records_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
        records_axis.set_xticks(positions, list(week_labels), rotation=45)
        records_axis.set_xlabel(t._("Week starting"))
        # A fixed position: placing the title automatically measures the axes on every draw.
        # No mathtext: a "$" in a unit's name is just a "$".
        self.title = records_axis.set_title("", y=1.0, pad=6, parse_math=False)

        self.land_axis = land_axis = records_axis.twinx()
        (self.line,) = land_axis.plot(
            positions, [0.0] * len(positions), color=LINE_COLOUR, marker="o", label=land_label
        )
        land_axis.set_ylabel(land_label)
        land_axis.yaxis.set_major_formatter(
            FuncFormatter(lambda value, _position: format_number(Decimal(f"{value:.2f}")))
        )
        records_axis.legend(handles=[self.bars, self.line], loc="upper left")
        # Fixed margins that fit the labels: tight_layout() would draw the figure once more
        # just to measure them.
        self.figure.subplots_adjust(left=0.09, right=0.88, top=0.92, bottom=0.22)

    def draw(self, points: Sequence[WeekPoint], title: str) -> bytes:
        for bar, point in zip(self.bars, points, strict=True):
            bar.set_height(point.records)
        self.line.set_ydata([float(point.land_m2) for point in points])
        for axis in (self.records_axis, self.land_axis):
            axis.set_autoscaley_on(True)  # set_ylim below turned it off for the last chart
            axis.relim()
            axis.autoscale_view()
        self.land_axis.set_ylim(bottom=0)
        self.title.set_text(title)
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", pil_kwargs={"compress_level": PNG_COMPRESSION})
        return buffer.getvalue()


_kept = threading.local()


def _figure_for(t: Translator, week_labels: tuple[str, ...]) -> _WeeklyFigure:
    figures: dict[tuple[Any, ...], _WeeklyFigure] = getattr(_kept, "figures", None) or {}
    _kept.figures = figures
    key = (t.language, week_labels)
    figure = figures.get(key)
    if figure is None:
        if len(figures) >= KEPT_FIGURES:
            figures.clear()
        figure = figures[key] = _WeeklyFigure(t, week_labels)
    return figure


def weekly_chart(t: Translator, points: Sequence[WeekPoint], *, title: str) -> bytes:
    """Bars of records per week and a line of m² pledged per week, as a PNG."""
    week_labels = tuple(format_date(point.start)[:5] for point in points)
    return _figure_for(t, week_labels).draw(points, title)
