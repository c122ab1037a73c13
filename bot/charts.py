"""Charts as PNG bytes, drawn with matplotlib's Agg backend (no display, no pyplot state).

matplotlib is imported inside the functions: it takes a while to load, and most of the bot
(and most tests) never draws anything. Each chart is its own Figure, not registered with
pyplot, so nothing needs closing and nothing is shared between threads.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

from bot.formatting import format_date, format_number
from bot.i18n import Translator
from storage.digest import WeekPoint

BAR_COLOUR = "#2f6db5"
LINE_COLOUR = "#d9480f"


def weekly_chart(t: Translator, points: Sequence[WeekPoint], *, title: str) -> bytes:
    """Bars of records per week and a line of m² pledged per week, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    records_axis = figure.add_subplot()
    positions = list(range(len(points)))
    records_label = t._("Records")
    land_label = t._("Land pledged (m²)")
    bars = records_axis.bar(
        positions, [point.records for point in points], color=BAR_COLOUR, label=records_label
    )
    records_axis.set_ylabel(records_label)
    records_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    records_axis.set_xticks(
        positions, [format_date(point.start)[:5] for point in points], rotation=45
    )
    records_axis.set_xlabel(t._("Week starting"))
    records_axis.set_title(title, parse_math=False)  # a "$" in a unit's name is just a "$"

    land_axis = records_axis.twinx()
    (line,) = land_axis.plot(
        positions,
        [float(point.land_m2) for point in points],
        color=LINE_COLOUR,
        marker="o",
        label=land_label,
    )
    land_axis.set_ylabel(land_label)
    land_axis.set_ylim(bottom=0)
    land_axis.yaxis.set_major_formatter(
        FuncFormatter(lambda value, _position: format_number(Decimal(f"{value:.2f}")))
    )
    records_axis.legend(handles=[bars, line], loc="upper left")
    # Fixed margins that fit the labels: tight_layout() would draw the figure once more just to
    # measure them, more than doubling the time of a chart (one per digest).
    figure.subplots_adjust(left=0.09, right=0.88, top=0.92, bottom=0.22)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
