"""Console area "cases": legal-aid applications and mediation bookings (list, detail, status workflow,
printable form, CSV/Excel export) and the committees' mediation schedules.

A status change updates the case row's ``status``/``updated_at`` and adds a ``case_events`` row in one
transaction, so the citizen's own status check in the bot (``CaseStore.find``) shows it at once.
A committee's schedule set here replaces the county default when the bot offers mediation slots
(``mediation.capacities``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.domain import STATUS_LABELS, STATUS_NAMES, ApplicationStatus, BookingStatus
from bot.privacy import log_event
from bot.rasa_client import BotMessage
from bot.services.accounts import Session
from bot.services.outbound import CHANNELS, DeliveryError, channel_of
from bot.storage.sql import applications, bookings, case_events, committee_schedules
from bot.web.console.export import csv_text, spreadsheet_safe
from bot.web.console.pages import Console, redirect, require, require_form
from bot.web.staff import RowId

logger = logging.getLogger("bot.web.console.cases")


WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
LIST_LIMIT = 500
EXPORT_LIMIT = 20000
NOTICE = "您的{kind}（编号 {reference}）有新进展：{label}。{reason}如有疑问请拨打 12348 法律服务热线。"


@dataclass(frozen=True)
class Field:
    name: str
    label: str


@dataclass(frozen=True)
class CaseKind:
    """What differs between applications and bookings; the pages are the same."""

    key: str  # URL segment: "applications" / "bookings"
    permission: str
    title: str  # 法律援助申请 / 调解预约
    table: Table
    statuses: tuple[str, ...]
    transitions: dict[str, tuple[str, ...]]
    reason_required: frozenset[str]
    fields: tuple[Field, ...]
    matter_column: str  # the "matter" filter
    date_column: str  # the date-range filter
    date_label: str

    @property
    def singular(self) -> str:
        return "application" if self.key == "applications" else "booking"


APPLICATIONS = CaseKind(
    "applications",
    "applications",
    "法律援助申请",
    applications,
    tuple(s.value for s in ApplicationStatus),
    {
        "received": ("reviewing",),
        "reviewing": ("accepted", "rejected"),
        "accepted": ("closed",),
        "rejected": ("closed",),
        "closed": (),
    },
    frozenset({"rejected"}),
    (
        Field("reference", "编号"),
        Field("name", "申请人"),
        Field("phone", "电话"),
        Field("town", "乡镇"),
        Field("village", "村（社区）"),
        Field("matter", "事项"),
        Field("opponent", "对方当事人"),
        Field("facts", "主要事实"),
        Field("deadline", "期限"),
        Field("economic_status", "经济状况"),
        Field("eligibility_note", "初步审查意见"),
        Field("sender_id", "渠道标识"),
        Field("status", "状态"),
        Field("created_at", "申请时间"),
        Field("updated_at", "更新时间"),
    ),
    "matter",
    "created_at",
    "申请日期",
)
BOOKINGS = CaseKind(
    "bookings",
    "bookings",
    "调解预约",
    bookings,
    tuple(s.value for s in BookingStatus),
    {
        "booked": ("confirmed", "cancelled"),
        "confirmed": ("held", "cancelled"),
        "held": ("settled", "not_settled"),
        "settled": (),
        "not_settled": (),
        "cancelled": (),
    },
    frozenset(),
    (
        Field("reference", "编号"),
        Field("name", "预约人"),
        Field("phone", "电话"),
        Field("dispute_type", "纠纷类型"),
        Field("parties", "当事人"),
        Field("town", "乡镇"),
        Field("village", "村（社区）"),
        Field("facts", "主要事实"),
        Field("committee_id", "调解委员会"),
        Field("slot_start", "调解时间"),
        Field("sender_id", "渠道标识"),
        Field("status", "状态"),
        Field("created_at", "预约时间"),
        Field("updated_at", "更新时间"),
    ),
    "dispute_type",
    "slot_start",
    "调解日期",
)
KINDS = {k.key: k for k in (APPLICATIONS, BOOKINGS)}
#: The schedules belong to the bookings' area.
Schedules = Annotated[Session, Depends(require(BOOKINGS.permission))]
SchedulesForm = Annotated[Session, Depends(require_form(BOOKINGS.permission))]


class CaseError(Exception):
    """A status change that is not allowed; the message is shown to staff."""


def change_status(
    engine, kind: CaseKind, reference: str, new: str, reason: str, by: str, now: dt.datetime | None = None
) -> str:
    """Move one case to ``new`` (checked against the workflow) and record it; returns the old status.

    The row is updated only if it still has the status that was checked, so two staff members cannot
    both move a case out of the same status.
    """
    table, now = kind.table, now or dt.datetime.now()
    with engine.begin() as conn:
        old = conn.execute(select(table.c.status).where(table.c.reference == reference)).scalar()
        if old is None:
            raise LookupError(reference)
        if new not in kind.transitions.get(old, ()):
            raise CaseError(f"当前状态“{STATUS_NAMES.get(old, old)}”不能改为“{STATUS_NAMES.get(new, new)}”")
        if new in kind.reason_required and not reason:
            raise CaseError("请填写不予援助的理由")
        done = conn.execute(
            update(table)
            .where(table.c.reference == reference, table.c.status == old)
            .values(status=new, updated_at=now)
        )
        if done.rowcount != 1:
            raise CaseError("状态刚被别人改过，请刷新后再试")
        conn.execute(insert(case_events).values(reference=reference, status=new, reason=reason or None, by=by, at=now))
    return old


def _day(text: str) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None
    return day if day != dt.date.max else None  # a range ends before the next day, which 9999-12-31 has not


def _cell(value) -> str:
    """A value for an export cell; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return spreadsheet_safe(str(value))


def router(console: Console) -> APIRouter:
    api = APIRouter(prefix="/console")
    page, accounts = console.page, console.accounts
    cache: dict[str, object] = {}

    def engine():
        if console.engine is None:
            raise HTTPException(503, "案件数据库不可用（当前使用内存存储）")
        return console.engine

    def directory():
        if "directory" not in cache:
            from bot.knowledge.directory import ServiceDirectory

            try:
                cache["directory"] = ServiceDirectory.load(console.settings.knowledge_base_dir)
            except (AttributeError, OSError, KeyError, ValueError):
                cache["directory"] = None
        return cache["directory"]

    def committees(scope: tuple[str, ...] | None = None) -> dict[str, str]:
        """Committee id → name: the county-wide committees, then one per town (a mediator: only theirs)."""
        found = directory()
        names = found.committees() if found is not None else {}
        return names if scope is None else {k: v for k, v in names.items() if k in scope}

    def scoped(kind: CaseKind, session) -> tuple[str, ...] | None:
        """Mediators see the bookings of their own committees only."""
        return session.user.committee_scope if kind is BOOKINGS else None

    def filters_of(request: Request) -> dict[str, str]:
        q = request.query_params
        return {k: q.get(k, "").strip()[:64] for k in ("q", "status", "matter", "town", "date_from", "date_to")}

    def query(kind: CaseKind, filters: dict[str, str], limit: int, scope: tuple[str, ...] | None = None):
        table = kind.table
        stmt = select(table)
        if scope is not None:
            stmt = stmt.where(table.c.committee_id.in_(scope))
        if filters["q"]:
            like = f"%{filters['q']}%"
            stmt = stmt.where(or_(table.c.reference.ilike(like), table.c.name.like(like), table.c.town.like(like)))
        if filters["status"] in kind.statuses:
            stmt = stmt.where(table.c.status == filters["status"])
        if filters["matter"]:
            stmt = stmt.where(table.c[kind.matter_column] == filters["matter"])
        if filters["town"]:
            stmt = stmt.where(table.c.town.like(f"%{filters['town']}%"))
        column = table.c[kind.date_column]
        if start := _day(filters["date_from"]):
            stmt = stmt.where(column >= dt.datetime.combine(start, dt.time()))
        if end := _day(filters["date_to"]):
            stmt = stmt.where(column < dt.datetime.combine(end + dt.timedelta(days=1), dt.time()))
        with engine().connect() as conn:
            return conn.execute(stmt.order_by(table.c.id.desc()).limit(limit)).mappings().all()

    def matters(kind: CaseKind) -> list[str]:
        column = kind.table.c[kind.matter_column]
        with engine().connect() as conn:
            return [r[0] for r in conn.execute(select(column).distinct().order_by(column)).all()]

    def display(kind: CaseKind, row, name: str):
        value = row[name]
        if name == "status":
            return STATUS_NAMES.get(value, value)
        if name == "committee_id":
            return committees().get(value, value)
        if name == "sender_id":
            return f"{CHANNELS.get(channel_of(value), '其他')}（{value}）"
        return value

    def load(kind: CaseKind, reference: str, scope: tuple[str, ...] | None = None):
        with engine().connect() as conn:
            row = conn.execute(select(kind.table).where(kind.table.c.reference == reference)).mappings().first()
            if row is None or (scope is not None and row["committee_id"] not in scope):
                raise HTTPException(404, f"没有编号为 {reference} 的{kind.title}")
            events = (
                conn.execute(select(case_events).where(case_events.c.reference == reference).order_by(case_events.c.id))
                .mappings()
                .all()
            )
        return row, events

    def common(kind: CaseKind) -> dict:
        return {"kind": kind, "STATUS_NAMES": STATUS_NAMES, "STATUS_LABELS": STATUS_LABELS}

    # ---- list and export -----------------------------------------------------------------
    def list_page(kind: CaseKind, request: Request, session: Session) -> HTMLResponse:
        filters = filters_of(request)
        error = ""
        if any(filters[k] and _day(filters[k]) is None for k in ("date_from", "date_to")):
            error = "日期格式应为 年-月-日，例如 2026-11-26"
        rows = query(kind, filters, LIST_LIMIT + 1, scoped(kind, session))
        export = urlencode({k: v for k, v in filters.items() if v})
        return page(
            request,
            "cases_list.html",
            session=session,
            rows=rows[:LIST_LIMIT],
            more=len(rows) > LIST_LIMIT,
            filters=filters,
            matters=matters(kind),
            export=export,
            error=error,
            committees=committees(),
            **common(kind),
        )

    def export(kind: CaseKind, request: Request, session: Session, fmt: str) -> Response:
        rows = query(kind, filters_of(request), EXPORT_LIMIT, scoped(kind, session))
        header = [f.label for f in kind.fields]
        body = [[_cell(display(kind, r, f.name)) for f in kind.fields] for r in rows]
        accounts.audit(session.user.username, "export", f"{kind.key}.{fmt}", f"{len(rows)} rows")
        name = f"{kind.key}-{dt.date.today():%Y%m%d}.{fmt}"
        disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(kind.title)}-{name}"
        if fmt == "csv":
            return Response(
                csv_text(header, body).encode("utf-8"),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
            )
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = kind.title
        sheet.append(header)
        for line in body:
            sheet.append(line)
        sheet.freeze_panes = "A2"
        out = io.BytesIO()
        book.save(out)
        return Response(
            out.getvalue(),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
        )

    # ---- one case ------------------------------------------------------------------------
    def detail_page(
        kind: CaseKind,
        request: Request,
        session: Session,
        reference: str,
        *,
        status: int = 200,
        error: str = "",
        form: dict | None = None,
        template: str = "cases_detail.html",
    ) -> HTMLResponse:
        row, events = load(kind, reference.strip().upper(), scoped(kind, session))
        action = "print" if template == "cases_print.html" else "view"
        accounts.audit(session.user.username, action, f"{kind.singular}:{row['reference']}", None)  # personal data
        q = request.query_params
        fields = [(f.label, display(kind, row, f.name)) for f in kind.fields if f.name != "reference"]
        return page(
            request,
            template,
            status=status,
            session=session,
            row=row,
            fields=fields,
            events=events,
            next_steps=kind.transitions.get(row["status"], ()),
            error=error,
            form=form or {"status": "", "reason": "", "notify": False},
            done=q.get("done") == "1",
            warning=q.get("warn") == "delivery",
            **common(kind),
        )

    def set_status(
        kind: CaseKind, request: Request, session: Session, reference: str, status: str, reason: str, notify: bool
    ) -> Response | dict:
        """Change the status (in a worker thread): the case row, or the page that says why it could not."""
        load(kind, reference, scoped(kind, session))  # a mediator may change only their committees' bookings
        try:
            change_status(engine(), kind, reference, status, reason, session.user.username)
        except LookupError:
            raise HTTPException(404, f"没有编号为 {reference} 的{kind.title}") from None
        except CaseError as exc:
            form = {"status": status, "reason": reason, "notify": notify}
            return detail_page(kind, request, session, reference, status=400, error=str(exc), form=form)
        accounts.audit(session.user.username, "case_status", f"{kind.singular}:{reference}", status)
        row, _ = load(kind, reference)
        return dict(row)

    async def post_status(
        kind: CaseKind, request: Request, session: Session, reference: str, status: str, reason: str, notify: str
    ) -> Response:
        reference, reason = reference.strip().upper(), reason.strip()[:2000]
        row = await asyncio.to_thread(set_status, kind, request, session, reference, status, reason, bool(notify))
        if isinstance(row, Response):
            return row
        warn = False
        if notify:
            extra = f"理由：{reason.rstrip('。.！!')}。" if reason else ""
            text = NOTICE.format(
                kind=kind.title, reference=reference, label=STATUS_LABELS.get(status, status), reason=extra
            )
            try:
                await console.outbound.send(row["sender_id"], [BotMessage(text)])
                await asyncio.to_thread(
                    accounts.audit, session.user.username, "case_notify", f"{kind.singular}:{reference}", status
                )
            except DeliveryError:
                warn = True
                log_event(logger, "case_notify_failed", row["sender_id"], kind=kind.singular, status=status)
        query = "done=1" + ("&warn=delivery" if warn else "")
        return redirect(request, f"{kind.key}_detail", query, reference=reference)

    for kind in (APPLICATIONS, BOOKINGS):

        def bind(kind: CaseKind) -> None:
            viewer, poster = Depends(require(kind.permission)), Depends(require_form(kind.permission))

            def list_view(request: Request, session: Session = viewer) -> HTMLResponse:
                return list_page(kind, request, session)

            def csv_view(request: Request, session: Session = viewer) -> Response:
                return export(kind, request, session, "csv")

            def xlsx_view(request: Request, session: Session = viewer) -> Response:
                return export(kind, request, session, "xlsx")

            def detail_view(request: Request, reference: str, session: Session = viewer) -> HTMLResponse:
                return detail_page(kind, request, session, reference)

            def print_view(request: Request, reference: str, session: Session = viewer) -> HTMLResponse:
                return detail_page(kind, request, session, reference, template="cases_print.html")

            async def status_view(
                request: Request,
                reference: str,
                session: Session = poster,
                status: str = Form(""),
                reason: str = Form(""),
                notify: str = Form(""),
            ) -> Response:
                return await post_status(kind, request, session, reference, status, reason, notify)

            key = kind.key
            api.add_api_route(f"/{key}", list_view, methods=["GET"], name=key)
            api.add_api_route(f"/{key}.csv", csv_view, methods=["GET"], name=f"{key}_csv")
            api.add_api_route(f"/{key}.xlsx", xlsx_view, methods=["GET"], name=f"{key}_xlsx")
            api.add_api_route(f"/{key}/{{reference}}", detail_view, methods=["GET"], name=f"{key}_detail")
            api.add_api_route(f"/{key}/{{reference}}/print", print_view, methods=["GET"], name=f"{key}_print")
            api.add_api_route(f"/{key}/{{reference}}/status", status_view, methods=["POST"], name=f"{key}_status")

        bind(kind)

    # ---- mediation schedules -------------------------------------------------------------
    def schedules_page(
        request: Request,
        session: Session,
        *,
        status: int = 200,
        error: str = "",
        form: dict | None = None,
        saved: bool = False,
    ) -> HTMLResponse:
        scope = session.user.committee_scope
        with engine().connect() as conn:
            stmt = select(committee_schedules)
            if scope is not None:
                stmt = stmt.where(committee_schedules.c.committee_id.in_(scope))
            rows = (
                conn.execute(
                    stmt.order_by(
                        committee_schedules.c.committee_id, committee_schedules.c.weekday, committee_schedules.c.time
                    )
                )
                .mappings()
                .all()
            )
        found = directory()
        default = found.schedule if found is not None else None
        return page(
            request,
            "cases_schedules.html",
            status=status,
            session=session,
            rows=rows,
            committees=committees(scope),
            WEEKDAYS=WEEKDAYS,
            default=default,
            error=error,
            saved=saved,
            form=form or {"committee_id": "", "weekday": "", "time": "", "capacity": ""},
        )

    @api.get("/schedules", name="schedules")
    def schedules(request: Request, session: Schedules) -> HTMLResponse:
        return schedules_page(request, session, saved=request.query_params.get("saved") == "1")

    @api.post("/schedules", name="add_schedule")
    def add_schedule(
        request: Request,
        session: SchedulesForm,
        committee_id: str = Form(""),
        weekday: str = Form(""),
        time: str = Form(""),
        capacity: str = Form(""),
    ) -> Response:
        form = {"committee_id": committee_id, "weekday": weekday, "time": time.strip(), "capacity": capacity.strip()}
        try:
            if committee_id not in committees(session.user.committee_scope):
                raise ValueError("请选择调解委员会")
            day = int(weekday)
            if not 0 <= day <= 6:
                raise ValueError("请选择星期几")
            start = dt.time.fromisoformat(time.strip()) if len(time.strip()) == 5 else None
            if start is None:
                raise ValueError("时间格式应为 时:分，例如 09:00")
            places = int(capacity) if capacity.strip().isdigit() else 0
            if not 1 <= places <= 50:
                raise ValueError("每场可约人数应为 1 到 50")
        except ValueError as exc:
            message = str(exc) if "请" in str(exc) or "应为" in str(exc) else "时间格式应为 时:分，例如 09:00"
            return schedules_page(request, session, status=400, error=message, form=form)
        try:
            with engine().begin() as conn:
                done = conn.execute(
                    update(committee_schedules)
                    .where(
                        committee_schedules.c.committee_id == committee_id,
                        committee_schedules.c.weekday == day,
                        committee_schedules.c.time == f"{start:%H:%M}",
                    )
                    .values(capacity=places)
                )
                if done.rowcount == 0:
                    conn.execute(
                        insert(committee_schedules).values(
                            committee_id=committee_id, weekday=day, time=f"{start:%H:%M}", capacity=places
                        )
                    )
        except IntegrityError:
            return schedules_page(request, session, status=409, error="这个时段刚被别人添加，请刷新后再试", form=form)
        accounts.audit(
            session.user.username, "schedule_set", f"committee:{committee_id}", f"{day} {start:%H:%M} {places}"
        )
        return redirect(request, "schedules", "saved=1")

    @api.post("/schedules/{schedule_id}/delete", name="delete_schedule")
    def delete_schedule(request: Request, session: SchedulesForm, schedule_id: RowId) -> Response:
        scope = session.user.committee_scope
        with engine().begin() as conn:
            stmt = delete(committee_schedules).where(committee_schedules.c.id == schedule_id)
            if scope is not None:
                stmt = stmt.where(committee_schedules.c.committee_id.in_(scope))
            done = conn.execute(stmt)
        if done.rowcount != 1:
            raise HTTPException(404, "没有这个排班")
        accounts.audit(session.user.username, "schedule_delete", f"schedule:{schedule_id}", None)
        return redirect(request, "schedules", "saved=1")

    return api
