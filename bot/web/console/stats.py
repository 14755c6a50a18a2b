"""The console's statistics page ``/console/stats``: what was asked and how it went, for a date range.

Each chart is one plain aggregation function ``(engine, start, end) -> rows`` (SQLAlchemy Core, so it
runs on SQLite and PostgreSQL), drawn server-side as inline SVG (no script, no CDN) and exportable as
CSV (UTF-8 with BOM so that Excel opens Chinese text correctly). ``start`` and ``end`` are dates, both
included.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.domain import STATUS_NAMES, ApplicationStatus, BookingStatus
from bot.services.accounts import Session
from bot.services.outbound import CHANNELS
from bot.storage.sql import applications, bookings, consultations, escalations, unanswered_questions
from bot.web.console.export import csv_text
from bot.web.console.pages import SECURITY_HEADERS, Console, require

PERMISSION = "stats"
StatsSession = Annotated[Session, Depends(require(PERMISSION))]
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366
#: Consultation kinds that count as answered (``suggest`` and ``none`` did not answer the question).
ANSWERED_KINDS = ("confident", "statute", "chosen", "follow_up")
#: Booking statuses that mean the dispute was mediated (what a bureau reports yearly).
MEDIATED = ("held", "settled", "not_settled")
APPLICATION_LABELS = {status.value: STATUS_NAMES[status.value] for status in ApplicationStatus}
BOOKING_LABELS = {status.value: STATUS_NAMES[status.value] for status in BookingStatus}
UNKNOWN = "未填写"


class Count(NamedTuple):
    label: str
    count: int  # type: ignore[assignment]  # the field shadows tuple.count on purpose (templates read .count)


class DayCount(NamedTuple):
    day: dt.date
    count: int  # type: ignore[assignment]  # as in Count


@dataclass(frozen=True)
class Rate:
    """``numerator`` over ``denominator``; ``value`` is None when there is nothing to divide by."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> str:
        return "—" if self.value is None else f"{self.value * 100:.1f}%"


@dataclass(frozen=True)
class MediationSummary:
    mediated: int
    settled: int

    @property
    def settlement(self) -> Rate:
        return Rate(self.settled, self.mediated)


# ---- aggregation (one function per chart) ---------------------------------------------------------
def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime.combine(start, dt.time()), dt.datetime.combine(end + dt.timedelta(days=1), dt.time())


def _in_range(column, start: dt.date, end: dt.date):
    low, high = _bounds(start, end)
    return (column >= low) & (column < high)


def _as_date(value) -> dt.date:
    # func.date gives a 'YYYY-MM-DD' string on SQLite and a date on PostgreSQL
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def per_day(engine: Engine, start: dt.date, end: dt.date) -> list[DayCount]:
    """Consultations per day, every day of the range (zeros included)."""
    day = func.date(consultations.c.at)
    with engine.connect() as conn:
        found = {
            _as_date(d): n
            for d, n in conn.execute(
                select(day, func.count()).where(_in_range(consultations.c.at, start, end)).group_by(day)
            )
        }
    days = (start + dt.timedelta(days=i) for i in range((end - start).days + 1))
    return [DayCount(d, found.get(d, 0)) for d in days]


def per_week(engine: Engine, start: dt.date, end: dt.date) -> list[DayCount]:
    """Consultations per ISO week (Monday first), each row dated by its Monday; edge weeks are partial."""
    weeks: dict[dt.date, int] = {}
    for day, count in per_day(engine, start, end):
        monday = day - dt.timedelta(days=day.weekday())
        weeks[monday] = weeks.get(monday, 0) + count
    return [DayCount(monday, count) for monday, count in weeks.items()]


def _by(engine: Engine, column, start: dt.date, end: dt.date, labels: dict[str, str] | None = None) -> list[Count]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(column, func.count()).where(_in_range(consultations.c.at, start, end)).group_by(column)
        ).all()
    counts = [Count((labels or {}).get(value, value) if value else UNKNOWN, n) for value, n in rows]
    return sorted(counts, key=lambda c: (-c.count, c.label))


def by_topic(engine: Engine, start: dt.date, end: dt.date) -> list[Count]:
    return _by(engine, consultations.c.topic, start, end)


def by_town(engine: Engine, start: dt.date, end: dt.date) -> list[Count]:
    return _by(engine, consultations.c.town, start, end)


def by_channel(engine: Engine, start: dt.date, end: dt.date) -> list[Count]:
    return _by(engine, consultations.c.channel, start, end, CHANNELS)


def answer_rate(engine: Engine, start: dt.date, end: dt.date) -> Rate:
    """Consultations answered (confident, statute, or chosen from suggestions) over all consultations."""
    with engine.connect() as conn:
        total, answered = conn.execute(
            select(func.count(), func.count().filter(consultations.c.kind.in_(ANSWERED_KINDS))).where(
                _in_range(consultations.c.at, start, end)
            )
        ).one()
    return Rate(answered or 0, total or 0)


def handoff_rate(engine: Engine, start: dt.date, end: dt.date) -> Rate:
    """Escalations to a person over the distinct people who consulted the bot."""
    with engine.connect() as conn:
        handed = conn.execute(
            select(func.count()).select_from(escalations).where(_in_range(escalations.c.created_at, start, end))
        ).scalar_one()
        people = conn.execute(
            select(func.count(func.distinct(consultations.c.sender_hash))).where(
                _in_range(consultations.c.at, start, end)
            )
        ).scalar_one()
    return Rate(handed, people)


def _statuses(engine: Engine, table, labels: dict[str, str], start: dt.date, end: dt.date) -> list[Count]:
    with engine.connect() as conn:
        found: dict[str, int] = dict(
            conn.execute(
                select(table.c.status, func.count())
                .where(_in_range(table.c.created_at, start, end))
                .group_by(table.c.status)
            ).all()
        )
    rows = [Count(label, found.pop(status, 0)) for status, label in labels.items()]
    return rows + [Count(status, n) for status, n in sorted(found.items())]  # a status added later still shows


def applications_by_status(engine: Engine, start: dt.date, end: dt.date) -> list[Count]:
    """Legal-aid applications made in the range, by their current status (every status listed)."""
    return _statuses(engine, applications, APPLICATION_LABELS, start, end)


def mediations_by_status(engine: Engine, start: dt.date, end: dt.date) -> list[Count]:
    """Mediation bookings made in the range, by their current status and outcome (every status listed)."""
    return _statuses(engine, bookings, BOOKING_LABELS, start, end)


def mediation_summary(engine: Engine, start: dt.date, end: dt.date) -> MediationSummary:
    """The yearly-report figures: disputes mediated (held, settled, not settled) and those settled."""
    with engine.connect() as conn:
        mediated, settled = conn.execute(
            select(
                func.count().filter(bookings.c.status.in_(MEDIATED)),
                func.count().filter(bookings.c.status == "settled"),
            ).where(_in_range(bookings.c.created_at, start, end))
        ).one()
    return MediationSummary(mediated or 0, settled or 0)


def top_unanswered(engine: Engine, start: dt.date, end: dt.date, limit: int = 10) -> list[Count]:
    """The most frequent texts the bot could not answer well (ties: the text's order)."""
    count = func.count().label("n")
    with engine.connect() as conn:
        rows = conn.execute(
            select(unanswered_questions.c.text, count)
            .where(_in_range(unanswered_questions.c.at, start, end))
            .group_by(unanswered_questions.c.text)
            .order_by(count.desc(), unanswered_questions.c.text)
            .limit(limit)
        ).all()
    return [Count(text, n) for text, n in rows]


# ---- charts: what each shows and exports ----------------------------------------------------------
@dataclass(frozen=True)
class ChartSpec:
    title: str
    headers: tuple[str, ...]
    rows: Callable[[Engine, dt.date, dt.date], Sequence[tuple]]


def _rate_rows(engine: Engine, start: dt.date, end: dt.date) -> list[tuple]:
    answered, handed = answer_rate(engine, start, end), handoff_rate(engine, start, end)
    return [
        ("答复率", answered.numerator, answered.denominator, answered.percent),
        ("转人工率", handed.numerator, handed.denominator, handed.percent),
    ]


def _mediation_rows(engine: Engine, start: dt.date, end: dt.date) -> list[tuple]:
    summary = mediation_summary(engine, start, end)
    return [
        *mediations_by_status(engine, start, end),
        ("调解案件数（已调解+成功+未成功）", summary.mediated),
        ("调解成功", summary.settled),
        ("调解成功率", summary.settlement.percent),
    ]


def _days(fn):
    return lambda engine, start, end: [(row.day.isoformat(), row.count) for row in fn(engine, start, end)]


CHARTS: dict[str, ChartSpec] = {
    "daily": ChartSpec("每日咨询量", ("日期", "咨询次数"), _days(per_day)),
    "weekly": ChartSpec("每周咨询量", ("周一日期", "咨询次数"), _days(per_week)),
    "topics": ChartSpec("按法律领域", ("领域", "咨询次数"), by_topic),
    "towns": ChartSpec("按乡镇", ("乡镇", "咨询次数"), by_town),
    "channels": ChartSpec("按渠道", ("渠道", "咨询次数"), by_channel),
    "rates": ChartSpec("答复率与转人工率", ("指标", "分子", "分母", "比率"), _rate_rows),
    "applications": ChartSpec("法律援助申请（按状态）", ("状态", "件数"), applications_by_status),
    "mediations": ChartSpec("人民调解（按状态和结果）", ("状态", "件数"), _mediation_rows),
    "unanswered": ChartSpec("未能答复的问题（前10）", ("问题", "次数"), top_unanswered),
}


# ---- SVG geometry (the template draws it) ---------------------------------------------------------
def columns(rows: list[DayCount], label: Callable[[dt.date], str], width: int = 640, height: int = 240) -> dict:
    """Vertical bars: one per row, a few x-axis labels, the maximum on the y axis."""
    left, right, top, bottom = 40, 8, 22, 30
    top_value = max([r.count for r in rows] + [1])
    step = (width - left - right) / max(len(rows), 1)
    every = max(1, math.ceil(len(rows) / 7))
    bars = []
    for i, row in enumerate(rows):
        h = (height - top - bottom) * row.count / top_value
        bars.append(
            {
                "x": round(left + i * step + step * 0.1, 1),
                "w": round(max(step * 0.8, 1), 1),
                "y": round(height - bottom - h, 1),
                "h": round(h, 1),
                "count": row.count,
                "title": f"{row.day.isoformat()}：{row.count}",
                "label": label(row.day) if i % every == 0 else "",
                "cx": round(left + i * step + step / 2, 1),
                "show_count": len(rows) <= 16 and row.count > 0,
            }
        )
    return {
        "width": width,
        "height": height,
        "left": left,
        "base": height - bottom,
        "top": top,
        "max": top_value,
        "bars": bars,
    }


def bars(rows: list[Count], width: int = 420, row_height: int = 28, label_width: int = 120) -> dict:
    """Horizontal bars with the label on the left and the count after the bar."""
    top_value = max([r.count for r in rows] + [1])
    room = width - label_width - 50
    items = [
        {
            "y": i * row_height,
            "label": r.label if len(r.label) <= 8 else r.label[:7] + "…",
            "title": f"{r.label}：{r.count}",
            "w": round(room * r.count / top_value, 1),
            "count": r.count,
        }
        for i, r in enumerate(rows)
    ]
    return {
        "width": width,
        "height": max(len(rows), 1) * row_height,
        "row": row_height,
        "x": label_width,
        "bars": items,
    }


# ---- pages ------------------------------------------------------------------------------------------
def parse_range(start: str, end: str, today: dt.date) -> tuple[dt.date, dt.date, str]:
    """The dates of the form (default: the last 30 days) and a Chinese message when they are wrong."""
    default = (today - dt.timedelta(days=DEFAULT_DAYS - 1), today)
    try:
        first = dt.date.fromisoformat(start.strip()) if start.strip() else default[0]
        last = dt.date.fromisoformat(end.strip()) if end.strip() else default[1]
    except ValueError:
        return (*default, "日期格式不对，请按 2026-01-31 这样填写")
    if last == dt.date.max:  # a range ends before the next day, which 9999-12-31 has not
        return (*default, "日期超出范围，请按 2026-01-31 这样填写")
    if first > last:
        return (*default, "开始日期不能晚于结束日期")
    if (last - first).days >= MAX_DAYS:
        return (*default, "时间范围最长3年，请缩小范围")
    return first, last, ""


def _csv(spec: ChartSpec, rows: Sequence[tuple]) -> str:
    return csv_text(spec.headers, rows)


def router(console: Console) -> APIRouter:
    api = APIRouter(prefix="/console/stats")

    def engine_of() -> Engine:
        if console.engine is None:
            raise HTTPException(503, "统计需要数据库（当前使用的是内存存储）")
        return console.engine

    @api.get("", name="stats")
    def stats_page(
        request: Request,
        session: StatsSession,
        start: str = Query("", alias="from"),
        end: str = Query("", alias="to"),
    ) -> HTMLResponse:
        engine = engine_of()
        first, last, error = parse_range(start, end, dt.date.today())
        query = urlencode({"from": first.isoformat(), "to": last.isoformat()})
        today = dt.date.today()
        presets = [
            ("近30天", today - dt.timedelta(days=29), today),
            ("本月", today.replace(day=1), today),
            ("今年", today.replace(month=1, day=1), today),
            ("去年", dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)),
        ]
        daily = per_day(engine, first, last)
        return console.page(
            request,
            "stats.html",
            session=session,
            error=error,
            query=query,
            charts=CHARTS,
            form={"from": start if error else first.isoformat(), "to": end if error else last.isoformat()},
            first=first,
            last=last,
            total=sum(d.count for d in daily),
            presets=[(name, urlencode({"from": a.isoformat(), "to": b.isoformat()})) for name, a, b in presets],
            daily=columns(daily, lambda d: f"{d.month}/{d.day}"),
            weekly=columns(per_week(engine, first, last), lambda d: f"{d.month}/{d.day}"),
            topics=bars(by_topic(engine, first, last)),
            towns=bars(by_town(engine, first, last)),
            channels=bars(by_channel(engine, first, last)),
            answered=answer_rate(engine, first, last),
            handed=handoff_rate(engine, first, last),
            applications=bars(applications_by_status(engine, first, last)),
            mediations=bars(mediations_by_status(engine, first, last)),
            mediation=mediation_summary(engine, first, last),
            unanswered=top_unanswered(engine, first, last),
        )

    @api.get("/{chart}.csv", name="stats_csv")
    def stats_csv(
        session: StatsSession, chart: str, start: str = Query("", alias="from"), end: str = Query("", alias="to")
    ) -> Response:
        spec = CHARTS.get(chart)
        if spec is None:
            raise HTTPException(404, "没有这个统计图表")
        first, last, error = parse_range(start, end, dt.date.today())
        if error:
            raise HTTPException(400, error)
        body = _csv(spec, spec.rows(engine_of(), first, last))
        console.accounts.audit(
            session.user.username, "export_stats", f"stats:{chart}", f"{first.isoformat()}..{last.isoformat()}"
        )
        name = f"stats-{chart}-{first:%Y%m%d}-{last:%Y%m%d}.csv"
        return Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    return api
