"""The console's pages under ``/console``: login, the live escalation queue, one conversation, users.

Server-rendered (Jinja2) with a small script for the live queue; everything is served by the app
(no CDN). Every form carries the session's CSRF token; every staff action goes to the audit log.

FastAPI's idiom: ``Jinja2Templates``; the static files a ``StaticFiles`` mount; the session, the role's
permission and the CSRF token dependencies (``require``, ``require_form``), which read the services from
``app.state.console``; links and redirects by route name (``path_for``: relative paths, as before).
Handlers that touch the database are plain ``def`` (FastAPI's thread pool); the ``async def`` ones, which
await Rasa or a delivery, run their database calls in ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hmac
import importlib
import importlib.util
import os
import secrets
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import NotModifiedResponse

from bot.domain import ESCALATION_STATUS_NAMES
from bot.errors import LegalTriageError, NotFoundError
from bot.rasa_client import MAX_MESSAGE_CHARS, RasaClient, RasaUnavailable
from bot.services.accounts import PERMISSIONS, ROLE_LABELS, AccountError, Accounts, LoginThrottled, Role, Session
from bot.services.handoff import BlankTextError, ConflictError, Handoff
from bot.services.outbound import CHANNELS
from bot.web.staff import STATUSES, RowId, conversation_json

COOKIE = "lt_console"
#: The login form's pre-session CSRF token (double submit: the form's hidden field must equal it).
LOGIN_COOKIE = "lt_login"
#: Console areas beyond the escalations (modules in this package, each with ``router(console)``).
AREAS: tuple[str, ...] = tuple(
    name
    for name in ("cases", "faq_admin", "stats", "privacy")
    if importlib.util.find_spec(f"bot.web.console.{name}") is not None
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
#: On the console's static files (``ConsoleStatic``).
STATIC_HEADERS = {"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"}
REASONS = {"request": "群众要求", "fallback": "答不上来", "emergency": "紧急情况", "intake": "法律援助申请"}
AUTHORS = {"citizen": "群众", "staff": "工作人员", "system": "系统提示", "note": "内部备注", "bot": "小助手"}
#: The closed view of the queue is paged (newest first); the store is read in batches while filtering.
CLOSED_PAGE = 50
CLOSED_BATCH = 200
MAX_PAGE = 10000
#: What a conversation page says after a staff action failed (``?error=<key>``).
ACTION_ERRORS = {
    "blank_reply": "回复内容不能为空",
    "blank_note": "备注内容不能为空",
    "taken": "这个会话已被别人接待",
    "claim_first": "请先接待（领取）这个会话再回复",
    "not_yours": "这个会话正由别人接待",
    "conflict": "这个会话的状态已经变了，请刷新后再试",
    "unavailable": "操作没有完成（机器人服务暂时不可用），请稍后再试",
}
#: What the users page says after a change (``?done=<key>``; the key selects a fixed text).
USER_DONE = {
    "created": "已创建账号",
    "disabled": "已停用账号，该用户已被登出",
    "enabled": "已启用账号",
    "password": "已重置密码，该用户已被登出",
    "role": "已修改角色，该用户已被登出",
}


class NeedLogin(Exception):
    """Raised by pages without a valid session; answered with a redirect to the login page."""


def _templates() -> Jinja2Templates:
    env = Environment(loader=PackageLoader("bot.web.console", "templates"), autoescape=select_autoescape())
    env.globals.update(
        ROLE_LABELS=ROLE_LABELS,
        REASONS=REASONS,
        AUTHORS=AUTHORS,
        STATUS_NAMES=ESCALATION_STATUS_NAMES,
        CHANNELS=CHANNELS,
        MAX_MESSAGE_CHARS=MAX_MESSAGE_CHARS,
        path_for=_template_path_for,
    )
    return Jinja2Templates(env=env)


@pass_context
def _template_path_for(context, name: str, /, **params) -> str:
    return path_for(context["request"], name, **params)


def path_for(request: Request, name: str, /, **params) -> str:
    """The path of a named route, its parameters quoted: ``request.url_for`` without the scheme and host,
    so that the console's links and redirects stay relative (as behind a proxy that terminates TLS)."""
    return request.app.url_path_for(name, **{key: quote(str(value), safe="") for key, value in params.items()})


class ConsoleStatic(StaticFiles):
    """The console's own CSS and JS (``/console/static/<file>``): only those kinds, cached for an hour."""

    TYPES = {".css": "text/css", ".js": "text/javascript"}

    def file_response(self, full_path, stat_result, scope, status_code: int = 200) -> Response:
        media_type = self.TYPES.get(os.path.splitext(full_path)[1])
        if media_type is None:
            raise StarletteHTTPException(404)  # as for a file that is not there
        response = FileResponse(full_path, status_code, STATIC_HEADERS, media_type, stat_result=stat_result)
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class Console:
    """What every console page needs: templates and the use cases; the app keeps it in ``app.state.console``.

    Area routers (``bot/web/console/<area>.py``) take one of these and return an APIRouter.
    """

    def __init__(
        self, handoff: Handoff, rasa: RasaClient, accounts: Accounts, settings=None, embedder_factory=None
    ) -> None:
        self.handoff = handoff
        self.embedder_factory = embedder_factory
        self.store = handoff.store
        self.outbound = handoff.outbound
        self.rasa = rasa
        self.accounts = accounts
        self.settings = settings
        self.engine = getattr(handoff.store, "_engine", None)  # the SQL store's engine (None with the memory twin)
        self.templates = _templates()
        #: Run once when the app starts serving (e.g. the FAQ area's recovery of interrupted publishing).
        self.on_start: list[Callable[[], None]] = []

    def page(self, request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, context, status, SECURITY_HEADERS)


def signed_in(request: Request) -> Session:
    """The signed-in user's session (a dependency); without one, a redirect to the login page."""
    session = request.app.state.console.accounts.session(request.cookies.get(COOKIE))
    if session is None:
        raise NeedLogin()
    return session


def _permitted(session: Session, permission: str) -> Session:
    if not session.user.can(permission):
        raise HTTPException(403, "您的角色没有这项权限")
    return session


@functools.cache
def require(permission: str) -> Callable[[Session], Session]:
    """The dependency of a page that needs ``permission``: the session, or 403 without the permission."""

    def permitted(session: Annotated[Session, Depends(signed_in)]) -> Session:
        return _permitted(session, permission)

    return permitted


@functools.cache
def require_form(permission: str) -> Callable[[Session, str], Session]:
    """``require`` for a form post, which must also carry the session's CSRF token (field ``csrf``)."""

    def checked(session: Annotated[Session, Depends(signed_in)], csrf: str = Form("")) -> Session:
        _permitted(session, permission)
        # As bytes: compare_digest refuses str with non-ASCII characters (a forged token may have them).
        if not csrf or not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
            raise HTTPException(400, "页面已过期，请刷新后重试")
        return session

    return checked


def redirect(request: Request, name: str, query: str = "", **params) -> RedirectResponse:
    """A 303 to the named route (its path, as the console's links are), with an optional query string."""
    path = path_for(request, name, **params)
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


SignedIn = Annotated[Session, Depends(signed_in)]
Escalations = Annotated[Session, Depends(require("escalations"))]
EscalationsForm = Annotated[Session, Depends(require_form("escalations"))]
Users = Annotated[Session, Depends(require("users"))]
UsersForm = Annotated[Session, Depends(require_form("users"))]


def console_router(console: Console, secure_cookie: bool = True) -> APIRouter:
    router = APIRouter(prefix="/console")
    handoff, rasa, accounts, page = console.handoff, console.rasa, console.accounts, console.page

    def home_for(session: Session) -> str:
        return (
            "escalations_page"
            if session.user.can("escalations")
            else "users"
            if session.user.can("users")
            else "account"
        )

    # ---- login ----------------------------------------------------------------------------
    def login_form(request: Request, next: str, error: str | None = None, status: int = 200) -> HTMLResponse:
        """The login page with a fresh pre-session CSRF token, in the form and in a cookie (double submit)."""
        token = secrets.token_urlsafe(24)
        response = page(request, "login.html", status=status, next=next, error=error, login_csrf=token)
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path=path_for(request, "login_page"),
        )
        return response

    def secure(request: Request) -> bool:
        return secure_cookie or request.url.scheme == "https"

    @router.get("/login", name="login_page")
    def login_page(request: Request, next: str = "") -> HTMLResponse:
        return login_form(request, next if next.startswith("/console/") else "")

    @router.post("/login", name="login")
    def login(  # a plain def: FastAPI runs it in a worker thread, so scrypt never blocks the event loop
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        next: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        next = next if next.startswith("/console/") and "//" not in next else ""
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not csrf or not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
            return login_form(request, next, "页面已过期，请重新输入用户名和密码。", 400)
        try:
            found = accounts.login(username, password, ip=request.client.host if request.client else "")
        except LoginThrottled:
            return login_form(request, next, "登录失败次数太多，请稍后再试（最长15分钟）。", 429)
        if found is None:
            return login_form(request, next, "用户名或密码不对", 401)
        token, session = found
        target = next or path_for(request, home_for(session))
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        # Secure unless turned off for plain-HTTP development, and always when the request came over HTTPS.
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/console")
        response.delete_cookie(LOGIN_COOKIE, path=path_for(request, "login_page"))
        return response

    @router.post("/logout", name="logout")
    def logout(request: Request, session: SignedIn, csrf: str = Form("")) -> Response:
        if csrf == session.csrf:
            accounts.logout(request.cookies.get(COOKIE, ""))
            accounts.audit(session.user.username, "logout", None, None)
        response = RedirectResponse(path_for(request, "login_page"), status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path="/console")
        return response

    @router.get("", name="home")
    @router.get("/", name="home_slash")
    def home(request: Request, session: SignedIn) -> Response:
        return redirect(request, home_for(session))

    @router.get("/account", name="account")
    def account(request: Request, session: SignedIn) -> HTMLResponse:
        return page(request, "account.html", session=session, PERMISSIONS=PERMISSIONS)

    # ---- escalations ----------------------------------------------------------------------
    def queue(session: Session, status: str, filters: dict[str, str], page_number: int = 0) -> tuple[list[dict], bool]:
        """The rows this user may see that match the filters, and whether there are more. Waiting and
        claimed: all of them; closed: one page of ``CLOSED_PAGE``, newest first, read in batches."""
        now, scope = dt.datetime.now(), session.user.committee_scope
        wanted = {k: v for k, v in filters.items() if k != "status" and v}

        def matching(batch: list) -> list[dict]:
            rows = [conversation_json(e, now) for e in batch if handoff.visible(e, scope)]
            return [r for r in rows if all((r.get(k) or "") == v for k, v in wanted.items())]

        if status != "closed":
            return matching(handoff.store.escalations(status)), False
        found: list[dict] = []
        start, offset = page_number * CLOSED_PAGE, 0
        while len(found) <= start + CLOSED_PAGE:
            batch = handoff.store.escalations("closed", limit=CLOSED_BATCH, offset=offset)
            found += matching(batch)
            if len(batch) < CLOSED_BATCH:
                break
            offset += CLOSED_BATCH
        return found[start : start + CLOSED_PAGE], len(found) > start + CLOSED_PAGE

    def queue_filters(status: str, channel: str, topic: str, town: str, assignee: str) -> dict[str, str]:
        status = status if status in STATUSES else "waiting"
        return {"status": status, "channel": channel, "topic": topic, "town": town, "assignee": assignee}

    def queue_view(
        session: Escalations,
        status: str = "waiting",
        channel: str = "",
        topic: str = "",
        town: str = "",
        assignee: str = "",
        page_number: int = Query(0, alias="page", ge=0, le=MAX_PAGE),
    ) -> tuple[Session, dict[str, str], list[dict], bool, int]:
        """The queue a page or its JSON shows: the session, the filters, the rows, whether more follow."""
        filters = queue_filters(status, channel, topic, town, assignee)
        rows, more = queue(session, filters["status"], filters, page_number)
        return session, filters, rows, more, page_number

    @router.get("/escalations", name="escalations_page")
    def escalations_page(request: Request, view=Depends(queue_view)) -> HTMLResponse:  # noqa: B008 - FastAPI's dependency
        session, filters, rows, more, page_number = view
        return page(
            request,
            "escalations.html",
            session=session,
            rows=rows,
            more=more,
            page_number=page_number,
            filters=filters,
            statuses=STATUSES,
        )

    @router.get("/escalations.json", name="escalations_json")
    def escalations_json(view=Depends(queue_view)) -> JSONResponse:  # noqa: B008 - FastAPI's dependency
        _, _, rows, more, _ = view
        return JSONResponse({"conversations": rows, "more": more}, headers={"Cache-Control": "no-store"})

    def visible(session: Session, escalation_id: int):
        """The escalation, if it is this user's to see (a mediator: their committees' only); else 404."""
        try:
            return handoff.get_for(escalation_id, session.user.committee_scope)
        except NotFoundError:
            raise HTTPException(404, "没有这个会话") from None

    def viewed(session: Session, escalation_id: int):
        escalation = visible(session, escalation_id)
        accounts.audit(session.user.username, "view", f"escalation:{escalation_id}", None)  # personal data seen
        return escalation

    @router.get("/escalations/{escalation_id}", name="escalation_page")
    async def escalation_page(
        request: Request, session: Escalations, escalation_id: RowId, error: str = ""
    ) -> HTMLResponse:
        escalation = await asyncio.to_thread(viewed, session, escalation_id)
        try:
            bot = await rasa.transcript(escalation.sender_id)
        except RasaUnavailable:
            bot = None
        return page(
            request,
            "escalation.html",
            session=session,
            c=conversation_json(escalation, dt.datetime.now()),
            context=escalation.context,
            messages=await asyncio.to_thread(handoff.transcript, escalation_id),
            bot=bot,
            error=ACTION_ERRORS.get(error, ""),  # a fixed text for a known key, never the address's own text
        )

    async def act(session: Session, escalation_id: int, action: str, text: str = "") -> str:
        """Do ``action``; the ``ACTION_ERRORS`` key of what went wrong, or ""."""
        who = session.user.username
        text = text.strip()[:MAX_MESSAGE_CHARS]
        try:
            await asyncio.to_thread(visible, session, escalation_id)  # a mediator: only their committees'
            if action == "claim":
                await handoff.claim(escalation_id, who)
            elif action == "reply":
                await handoff.reply(escalation_id, who, text)
            elif action == "note":
                await asyncio.to_thread(handoff.note, escalation_id, who, text)
            elif action == "close":
                await handoff.close(escalation_id, who)
            await asyncio.to_thread(accounts.audit, who, action, f"escalation:{escalation_id}", None)
        except NotFoundError:
            raise HTTPException(404, "没有这个会话") from None
        except BlankTextError:
            return "blank_reply" if action == "reply" else "blank_note"
        except ConflictError:
            return {"claim": "taken", "reply": "claim_first", "close": "not_yours"}.get(action, "conflict")
        except (RasaUnavailable, LegalTriageError):
            return "unavailable"
        return ""

    @router.post("/escalations/{escalation_id}/{action}", name="escalation_action")
    async def escalation_action(
        request: Request, session: EscalationsForm, escalation_id: RowId, action: str, text: str = Form("")
    ) -> Response:
        if action not in ("claim", "reply", "note", "close"):
            raise HTTPException(404, "not found")
        error = await act(session, escalation_id, action, text)
        return redirect(request, "escalation_page", f"error={error}" if error else "", escalation_id=escalation_id)

    # ---- users (admin) --------------------------------------------------------------------
    def committee_names() -> dict[str, str]:
        from bot.knowledge.directory import ServiceDirectory

        try:
            return ServiceDirectory.load(console.settings.knowledge_base_dir).committees()
        except (AttributeError, OSError, KeyError, ValueError):
            return {}

    def users_page(request: Request, session: Session, status: int = 200, error: str = "") -> HTMLResponse:
        return page(
            request,
            "users.html",
            status=status,
            session=session,
            users=accounts.all(),
            roles=list(Role),
            error=error,
            done=USER_DONE.get(request.query_params.get("done", "")),  # a fixed message, never the query's text
            audit=accounts.audit_entries(50),
            committees=committee_names(),
        )

    def chosen_committees(role: str, committees: list[str]) -> tuple[str, ...]:
        known = committee_names()
        return tuple(c for c in committees if c in known) if role == Role.MEDIATOR.value else ()

    @router.get("/users", name="users")
    def users(request: Request, session: Users) -> HTMLResponse:
        return users_page(request, session)

    @router.post("/users", name="create_user")
    def create_user(
        request: Request,
        session: UsersForm,
        username: str = Form(""),
        display_name: str = Form(""),
        role: str = Form("staff"),
        password: str = Form(""),
        committees: list[str] = Form([]),  # noqa: B008 - FastAPI's form-field declaration
    ) -> Response:
        chosen = chosen_committees(role, committees)
        try:
            if role == Role.MEDIATOR.value and not chosen:
                raise AccountError("调解员需要选择所属的调解委员会")
            accounts.create(username, password, Role(role), display_name, by=session.user.username, committees=chosen)
        except (AccountError, ValueError) as exc:
            message = str(exc) if isinstance(exc, AccountError) else "角色不正确"
            return users_page(request, session, status=400, error=message)
        return redirect(request, "users", "done=created")

    @router.post("/users/{username}/{change}", name="change_user")
    def change_user(
        request: Request,
        session: UsersForm,
        username: str,
        change: str,
        role: str = Form(""),
        password: str = Form(""),
        committees: list[str] = Form([]),  # noqa: B008 - FastAPI's form-field declaration
    ) -> Response:
        """Disable, enable, reset the password, change the role: each logs the user out and is audited."""
        if change not in USER_DONE or change == "created":
            raise HTTPException(404, "not found")
        by = session.user.username
        if accounts.get(username) is None:
            raise HTTPException(404, "没有这个账号")
        try:
            if change in ("disabled", "enabled"):
                accounts.set_active(username, change == "enabled", by)
            elif change == "password":
                accounts.reset_password(username, password, by)
            else:
                accounts.set_role(username, Role(role), chosen_committees(role, committees), by)
        except (AccountError, ValueError) as exc:
            message = str(exc) if isinstance(exc, AccountError) else "角色不正确"
            return users_page(request, session, status=400, error=message)
        return redirect(request, "users", f"done={change}")

    return router


def install_console(
    app,
    handoff: Handoff,
    rasa: RasaClient,
    accounts: Accounts,
    secure_cookie: bool,
    settings=None,
    embedder_factory=None,
) -> Console:
    """Mount the console (its services in ``app.state.console``) and translate its errors into pages."""
    console = Console(handoff, rasa, accounts, settings, embedder_factory)
    app.state.console = console
    app.mount("/console/static", ConsoleStatic(packages=[("bot.web.console", "static")]), name="console_static")
    app.include_router(console_router(console, secure_cookie))
    for area in AREAS:  # each area module offers ``router(console) -> APIRouter``
        app.include_router(importlib.import_module(f"bot.web.console.{area}").router(console))

    @app.exception_handler(NeedLogin)
    async def _need_login(request: Request, exc: NeedLogin) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"error": "登录已过期，请重新登录"}, status_code=401)
        target = quote(request.url.path) if request.method == "GET" else ""
        return RedirectResponse(f"{app.url_path_for('login_page')}?next={target}", status_code=303)

    app.state.console_error_page = lambda request, status, message: console.templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status, SECURITY_HEADERS
    )
    return console
