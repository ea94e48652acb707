"""The answer rate over time as an inline SVG: drawn on the server, nothing fetched, no script.

The line is the share of people in scope who had answered at each moment, from the campaign's
opening to now (or to the deadline once passed); the dashed line marks the deadline when it is
in view. Points are where the rate changed, so a campaign of 50,000 answers still draws fast.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28
MAX_POINTS = 400


def rate_chart(
    times: list[datetime],
    total: int,
    opens_at: datetime,
    deadline: datetime,
    now: datetime,
    tz: str,
) -> str:
    zone = ZoneInfo(tz)
    start = min([opens_at, *times[:1]])
    end = max(min(now, deadline), start + timedelta(hours=1))
    if deadline > end and deadline - end < (end - start) / 4:
        end = deadline  # the deadline is near: show it
    span = (end - start).total_seconds()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime) -> float:
        return LEFT + plot_w * max(0.0, min(1.0, (moment - start).total_seconds() / span))

    def y(rate: float) -> float:
        return TOP + plot_h * (1.0 - rate)

    points = [(x(start), y(0.0))]
    step = max(1, len(times) // MAX_POINTS)
    for i, moment in enumerate(times, start=1):
        if i % step == 0 or i == len(times):
            points.append((x(moment), y(i / total if total else 0.0)))
    last = len(times) / total if total else 0.0
    points.append((x(min(now, end)), y(last)))
    line = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="Tỷ lệ đã trả lời theo thời gian: hiện {last * 100:.0f}%">'
    ]
    for rate in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(rate):.1f}" '
            f'y2="{y(rate):.1f}"/><text class="axis" x="{LEFT - 6}" y="{y(rate) + 4:.1f}" '
            f'text-anchor="end">{rate * 100:.0f}%</text>'
        )
    for i in range(5):
        moment = start + (end - start) * i / 4
        label = escape(moment.astimezone(zone).strftime("%d/%m"))
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<text class="axis" x="{x(moment):.1f}" y="{HEIGHT - 8}" '
            f'text-anchor="{anchor}">{label}</text>'
        )
    if start <= deadline <= end:
        dx = x(deadline)
        parts.append(
            f'<line class="deadline" x1="{dx:.1f}" x2="{dx:.1f}" y1="{TOP}" '
            f'y2="{HEIGHT - BOTTOM}"><title>Hạn trả lời</title></line>'
        )
    parts.append(f'<polyline class="rate" points="{line}"/>')
    parts.append("</svg>")
    return "".join(parts)
