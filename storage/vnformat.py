"""How dates, durations and numbers are written for Vietnamese readers.

Shared by the terminal views, the email templates, the chat messages and the dashboard, so a
deadline reads the same everywhere: "17:00 Thứ Sáu, 10/01/2025", "còn 3 ngày 4 giờ", "1.240",
"59,6%". ``FILTERS`` are the same functions as Jinja2 filters, for every template environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
DEFAULT_TZ = "Asia/Ho_Chi_Minh"


def vn_number(n: int) -> str:
    """1240 -> '1.240': Vietnamese groups thousands with dots."""
    return f"{n:,}".replace(",", ".")


def vn_datetime(moment: datetime, tz: str = DEFAULT_TZ) -> str:
    """'17:00 Thứ Sáu, 10/01/2025' in the campaign's time zone."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local:%H:%M} {WEEKDAYS[local.weekday()]}, {local:%d/%m/%Y}"


def vn_date(moment: datetime, tz: str = DEFAULT_TZ) -> str:
    """'ngày 10 tháng 01 năm 2025', the form official letters use."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"ngày {local:%d} tháng {local:%m} năm {local:%Y}"


def vn_duration(delta: timedelta) -> str:
    """'3 ngày 4 giờ', '5 giờ 20 phút', '12 phút' (sign ignored)."""
    seconds = int(abs(delta).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} ngày" + (f" {hours} giờ" if hours else "")
    if hours:
        return f"{hours} giờ" + (f" {minutes} phút" if minutes else "")
    return f"{minutes} phút"


def vn_percent(rate: float) -> str:
    """0.596 -> '59,6%', 0.6 -> '60%': a decimal comma, one decimal only when it says something."""
    text = f"{rate * 100:.1f}".replace(".", ",")
    return (text[:-2] if text.endswith(",0") else text) + "%"


FILTERS: Final[Mapping[str, Callable[..., Any]]] = {
    "vn_datetime": vn_datetime,
    "vn_date": vn_date,
    "vn_duration": vn_duration,
    "vn_number": vn_number,
    "vn_percent": vn_percent,
}
"""The Jinja2 filters of every template environment (email, chat, dashboard)."""
