"""The views-over-time chart: cumulative delivered and read counts against time since posting, drawn as
an SVG on the server (no chart library, no script). Only numbers computed here reach the SVG's
attributes; the labels are plain text the template escapes."""

from __future__ import annotations

from dataclasses import dataclass

from statusgate.services.status_reports import ViewPoint

WIDTH = 320
HEIGHT = 180
#: room for the axes' labels
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 12, 30


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    seconds: float
    count: int


@dataclass(frozen=True)
class Series:
    name: str
    #: a step line: a count holds until the next change
    path: str
    dots: list[Dot]


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]


def duration_label(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


#: the shortest time the x axis shows, so a status a moment old is not drawn over a one-second axis
MIN_SPAN_SECONDS = 60.0


def views_chart(points: list[ViewPoint], recipients: int, elapsed: float) -> Chart:
    """The chart of ``points`` for a status sent ``elapsed`` seconds ago (the lines run on to now)."""
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    span = max(max((p.seconds for p in points), default=0.0), elapsed, MIN_SPAN_SECONDS)
    top_count = max(recipients, max((p.delivered for p in points), default=0), 1)

    def x(seconds: float) -> float:
        return round(LEFT + (right - LEFT) * seconds / span, 1)

    def y(count: int) -> float:
        return round(bottom - (bottom - TOP) * count / top_count, 1)

    series = []
    for name in ("delivered", "read"):
        counts = [(p.seconds, p.delivered if name == "delivered" else p.read) for p in points]
        dots: list[Dot] = []
        path = [f"M{x(0)},{y(0)}"]
        previous = 0
        for seconds, count in counts:
            if count == previous and dots:
                continue
            path.append(f"H{x(seconds)}V{y(count)}")
            dots.append(Dot(x(seconds), y(count), seconds, count))
            previous = count
        path.append(f"H{x(span)}")
        series.append(Series(name, "".join(path), [d for d in dots if d.count > 0]))
    x_ticks = [Tick(x(span * i / 4), duration_label(span * i / 4)) for i in range(5)]
    step = max(1, -(-top_count // 4))
    y_ticks = [Tick(y(c), str(c)) for c in range(0, top_count + 1, step)]
    return Chart(WIDTH, HEIGHT, LEFT, right, TOP, bottom, series, x_ticks, y_ticks)
