"""The views-over-time numbers a status page shows: cumulative delivered and read counts, and the chart
drawn from them."""

from __future__ import annotations

from statusgate.api.console.chart import views_chart
from statusgate.domain.states import ReceiptStatus, StatusState
from statusgate.services.status_reports import ViewPoint, status_message, views_over_time
from statusgate.store.recipients import Viewer

SENT = 1_000.0


def viewer(name: str, delivered: float | None, read: float | None) -> Viewer:
    status = ReceiptStatus.READ if read else ReceiptStatus.DELIVERED if delivered else ReceiptStatus.SENT
    return Viewer(f"{name}@c.us", status, read or delivered or SENT, delivered, read)


def test_counts_are_cumulative_and_a_read_was_delivered_too() -> None:
    viewers = [
        viewer("79000000001", SENT + 2, SENT + 30),
        viewer("79000000002", SENT + 5, None),
        viewer("79000000003", None, None),
    ]
    assert views_over_time(viewers, SENT) == [
        ViewPoint(2.0, 1, 0),
        ViewPoint(5.0, 2, 0),
        ViewPoint(30.0, 2, 1),
    ]


def test_receipts_at_one_moment_are_one_point_and_early_clocks_count_at_zero() -> None:
    viewers = [viewer("79000000001", SENT - 3, SENT + 4), viewer("79000000002", SENT + 4, SENT + 4)]
    assert views_over_time(viewers, SENT) == [ViewPoint(0.0, 1, 0), ViewPoint(4.0, 2, 2)]


def test_nobody_yet_is_no_point_and_the_word_follows_the_best_receipt() -> None:
    assert views_over_time([viewer("79000000001", None, None)], SENT) == []
    assert status_message(StatusState.SENT, []) == "sent"
    assert status_message(StatusState.SENT, [viewer("79000000001", SENT + 1, None)]) == "delivered"
    assert status_message(StatusState.QUEUED, []) == "pending"


def test_the_chart_has_a_dot_per_change_of_each_series_inside_the_plot() -> None:
    points = [ViewPoint(2.0, 1, 0), ViewPoint(5.0, 2, 0), ViewPoint(30.0, 2, 1)]
    chart = views_chart(points, recipients=3, elapsed=20.0)
    delivered, read = chart.series
    assert [(d.seconds, d.count) for d in delivered.dots] == [(2.0, 1), (5.0, 2)]
    assert [(d.seconds, d.count) for d in read.dots] == [(30.0, 1)]
    for dot in delivered.dots + read.dots:
        assert chart.left <= dot.x <= chart.right and chart.top <= dot.y <= chart.bottom
    # more receipts sit higher; the axis runs to the latest of the last point, now, and a minute
    assert delivered.dots[1].y < delivered.dots[0].y
    assert read.dots[0].x < chart.right
    assert views_chart([ViewPoint(90.0, 1, 1)], 1, elapsed=50.0).series[1].dots[0].x == chart.right
    assert views_chart(points, recipients=3, elapsed=120.0).x_ticks[-1].label == "2 min"
    assert set(delivered.path) <= set("MHV0123456789.,")
