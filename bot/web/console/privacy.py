"""Erasure on request from the console (PIPL art. 47): administrators only, the same use case as
``legal-triage data erase`` (``bot/services/retention.py``), audited under the administrator's name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse

from bot.services.accounts import Session
from bot.services.retention import DataLifecycle, NotACitizen
from bot.storage.rasa_tracker import RasaTracker
from bot.web.console.pages import Console, require, require_form

#: Account management's permission: only administrators have it.
PERMISSION = "users"
Admin = Annotated[Session, Depends(require(PERMISSION))]
AdminForm = Annotated[Session, Depends(require_form(PERMISSION))]


def router(console: Console) -> APIRouter:
    api = APIRouter(prefix="/console/privacy")

    @api.get("/erase", name="privacy_erase")
    def erase_page(request: Request, session: Admin) -> HTMLResponse:
        return console.page(request, "privacy_erase.html", session=session)

    @api.post("/erase", name="privacy_erase_post")
    def erase(request: Request, session: AdminForm, who: str = Form(""), confirmed: str = Form("")) -> HTMLResponse:
        if console.settings is None:
            raise HTTPException(503, "删除个人信息需要完整的配置")
        if confirmed != "yes":
            return console.page(request, "privacy_erase.html", 400, session=session, error="请先勾选确认")
        lifecycle = DataLifecycle(
            console.settings, console.store, console.accounts, RasaTracker(console.settings.tracker_url)
        )
        try:
            counts = lifecycle.erase(who, by=session.user.username)
        except NotACitizen:
            return console.page(
                request, "privacy_erase.html", 400, session=session, error="请填写发送者ID（如 tg:123）或手机号"
            )
        return console.page(request, "privacy_erase.html", session=session, counts=counts)

    return api
