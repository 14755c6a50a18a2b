"""Fuzzing the staff console: login, and the main forms with any values and with forged CSRF tokens.

The console runs as in ``tests/unit/web/test_console*.py`` (the same login helper, the same case builders),
on SQLite and, like the storage tests, on the required PostgreSQL server too: PostgreSQL refuses
what SQLite lets through (NUL characters, text longer than its column), so only there do some
inputs meet the database's limits. The FAQ pages read a two-entry copy of the knowledge base
(validating the whole one takes a second per request).
"""

from __future__ import annotations

import shutil
import uuid
from urllib.parse import quote, urlsplit

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from bot.domain import TOPICS, Escalation
from bot.knowledge import kb
from bot.knowledge.laws import StatuteLibrary
from bot.rasa_client import MAX_MESSAGE_CHARS
from bot.services.accounts import Accounts, Role
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, RecordingSender, WebOutbox
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.sql import SqlCaseStore
from bot.web.app import create_app
from bot.web.console.pages import COOKIE
from tests.support.console import PASSWORD, login, post_login
from tests.support.fuzz import (
    CHINESE,
    FUZZ,
    HTML,
    HTML_PAYLOADS,
    PARAM,
    SHORT_TEXT,
    SQL,
    TEXT,
    FuzzRasa,
    escaped_in,
    mostly,
    no_trace,
)
from tests.unit.web.test_console_cases import application
from tests.unit.web.test_console_faq import form_data

KB = PROJECT_ROOT / "knowledge_base"
#: Form text: anything a browser can post, markup and SQL included.
FIELD = st.one_of(SHORT_TEXT, HTML, SQL, st.sampled_from(["\x00", "a\x00b", "x" * 65, "长" * 65, "x" * 300]))
EXPIRED = "页面已过期"


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_kb")
    for name in ("services.yml", "xiangtan_county_divisions.json"):
        shutil.copy(KB / name, root / name)
    (root / "laws").symlink_to(KB / "laws")
    (root / "faq").mkdir()
    entries = yaml.safe_load((KB / "faq" / "family.yml").read_text(encoding="utf-8"))[:2]
    (root / "faq" / "family.yml").write_text(yaml.safe_dump(entries, allow_unicode=True), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def console(module_engine: Engine, small_kb, tmp_path_factory):
    """The app with an admin signed in (``console.csrf``), one claimed conversation, and a login-only client."""
    accounts = Accounts(module_engine)
    for name, role in (("admin", Role.ADMIN), ("wang", Role.STAFF)):
        accounts.create(name, PASSWORD, role, display_name=name.upper())
    store, rasa = SqlCaseStore(module_engine), FuzzRasa()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store), "tg": RecordingSender()}), rasa, HandoffPolicy())
    root = tmp_path_factory.mktemp("fuzz_console_data")
    app = create_app(
        Settings(knowledge_base_dir=small_kb, models_dir=root / "models", data_dir=root),
        rasa=rasa,
        handoff=handoff,
        accounts=accounts,
    )
    client = TestClient(app, follow_redirects=False)
    client.csrf = login(client, "admin")
    client.store, client.accounts, client.module_engine = store, accounts, module_engine
    client.escalation = store.add_escalation(Escalation(sender_id=f"web:{uuid.uuid4()}", reason="request", priority=1))
    claimed = client.post(f"/console/escalations/{client.escalation.id}/claim", data={"csrf": client.csrf})
    assert claimed.status_code == 303
    client.anonymous = TestClient(app, follow_redirects=False)
    return client


def clear(response, sent: str = "") -> None:
    """A page with a Chinese message (or a redirect within the console); never a 500 or a trace."""
    no_trace(response, sent)
    status = response.status_code
    assert status in (200, 303, 307, 400, 401, 403, 404, 405, 409, 413, 422, 429), (status, response.text[:300])
    if status in (303, 307):  # 307: the framework's redirect to the address without a trailing "/"
        assert urlsplit(response.headers["location"]).path.startswith("/console/"), response.headers["location"]
    elif status >= 400:
        assert CHINESE.search(response.text), response.text[:300]


# ---- login ------------------------------------------------------------------------------------------
USERNAMES = st.one_of(
    st.sampled_from(["admin", "wang", "admin ", " wang", "ADMIN", "admin\x00", "nobody"]),
    FIELD,
    SQL.map(lambda s: "admin" + s),
)
PASSWORDS = st.one_of(
    st.sampled_from([PASSWORD + " ", " " + PASSWORD, PASSWORD.upper(), PASSWORD[:-1], "", "\x00"]), FIELD, SQL
)


@settings(FUZZ, max_examples=25)
@given(username=USERNAMES, password=PASSWORDS, next_=st.one_of(st.just(""), FIELD, HTML))
@example(username="admin' --", password="' OR '1'='1", next_="")
@example(username="admin", password="' OR ''='", next_='"><script>alert(1)</script>')
@example(username="admin", password="' OR ''='", next_='/console/"><script>alert(1)</script>')
@example(username="ad\x00min", password="x", next_="")
def test_login_with_any_credentials_never_signs_in(console, username, password, next_):
    response = post_login(console.anonymous, username, password, next=next_)
    clear(response, next_)
    assert response.status_code in (400, 401, 429), response.status_code  # never the 303 of a login
    assert COOKIE not in response.headers.get("set-cookie", "")  # no session (a fresh login-form token only)
    event(f"status {response.status_code}")
    if response.status_code in (401, 429) and "<" in next_ and next_.startswith("/console/") and "//" not in next_:
        escaped_in(next_, response.text)


# ---- any address, signed in or not -----------------------------------------------------------------------
SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "escalations",
            "escalations.json",
            "applications",
            "bookings",
            "faq",
            "users",
            "schedules",
            "stats",
            "static",
            "account",
            "login",
            "logout",
            "drafts",
            "edit",
            "console.css",
            "console.js",
            "..",
            "%2e%2e",
            "1",
            "0",
            "-1",
            "2147483648",
        ]
    ),
    FIELD.map(lambda text: quote(text, safe="")),
)


@settings(FUZZ, max_examples=30)
@given(
    segments=st.lists(SEGMENTS, min_size=1, max_size=4),
    signed_in=st.booleans(),
    method=st.sampled_from(["GET", "POST"]),
)
@example(segments=["static", quote("x\x00.css", safe="")], signed_in=False, method="GET")
@example(segments=["faq", "drafts", "99999999999999999999"], signed_in=True, method="GET")
def test_any_console_address_gets_a_page_or_a_redirect(console, segments, signed_in, method):
    client = console if signed_in else console.anonymous
    response = client.request(method, "/console/" + "/".join(segments))
    clear(response)
    event(f"{'signed in' if signed_in else 'anonymous'} {response.status_code}")


# ---- forged CSRF ------------------------------------------------------------------------------------
FORMS = [
    "/console/escalations/{id}/reply",
    "/console/escalations/{id}/note",
    "/console/escalations/{id}/close",
    "/console/applications/{ref}/status",
    "/console/faq/save",
    "/console/users",
    "/console/schedules",
]


@settings(FUZZ, max_examples=30)
@given(form=st.sampled_from(FORMS), csrf=st.one_of(st.none(), st.just(""), FIELD, st.uuids().map(str)), text=FIELD)
@example(form="/console/escalations/{id}/note", csrf="\x80", text="x")  # non-ASCII: compare_digest raised TypeError
@example(form="/console/users", csrf="页面", text="x")
def test_forged_csrf_is_refused(console, form, csrf, text):
    if csrf == console.csrf:
        return
    reference = console.store.add_application(application()).reference
    url = form.format(id=console.escalation.id, ref=reference)
    data = {
        "text": text,
        "status": "reviewing",
        "reason": text,
        "username": f"u{uuid.uuid4().hex[:8]}",
        "password": PASSWORD,
        "role": "staff",
        "question": text,
        "committee_id": "x",
    }
    if csrf is not None:
        data["csrf"] = csrf
    audits = console.accounts.audit_entries(1)
    response = console.post(url, data=data)
    clear(response)
    assert response.status_code == 400 and EXPIRED in response.text
    assert console.accounts.audit_entries(1) == audits  # nothing was done (every action is audited)


# ---- escalation reply and note ----------------------------------------------------------------------
@settings(FUZZ, max_examples=30)
@given(
    raw_id=mostly(st.just("{claimed}"), st.sampled_from(["0", "-1", "7", "2147483648"]) | PARAM),
    action=mostly(st.sampled_from(["reply", "note", "reply", "note", "claim", "close"]), FIELD),
    text=TEXT,
)
@example(raw_id="{claimed}", action="note", text="<script>alert('备注')</script>")
@example(raw_id="{claimed}", action="reply", text='"><img src=x onerror=alert(1)>')
@example(raw_id="2147483648", action="note", text="x")
@example(raw_id="99999999999999999999", action="reply", text="x")
@example(raw_id="{claimed}", action="note", text="a\x00b")
def test_escalation_forms_with_any_values(console, raw_id, action, text):
    claimed = console.store.add_escalation(Escalation(sender_id=f"web:{uuid.uuid4()}", reason="request", priority=1)).id
    assert console.post(f"/console/escalations/{claimed}/claim", data={"csrf": console.csrf}).status_code == 303
    target = quote(raw_id.replace("{claimed}", str(claimed)), safe="") or "%20"
    url = f"/console/escalations/{target}/{quote(action, safe='')}"
    response = console.post(url, data={"csrf": console.csrf, "text": text})
    clear(response)
    event(f"{action if action in ('reply', 'note', 'claim', 'close') else 'other'} {response.status_code}")
    if response.status_code != 303:
        return
    page = console.get(response.headers["location"])
    clear(page)
    assert page.status_code == 200 or raw_id != "{claimed}"  # (no conversation: the redirect ends on a 404)
    shown = text.strip()[:MAX_MESSAGE_CHARS]
    done = "error=" not in response.headers["location"]
    if raw_id == "{claimed}" and action in ("reply", "note") and "<" in shown and done:
        escaped_in(shown, page.text)


@settings(FUZZ, max_examples=20)
@given(error=st.one_of(HTML, FIELD))
def test_an_error_in_the_address_is_never_shown(console, error):
    page = console.get(f"/console/escalations/{console.escalation.id}", params={"error": error})
    clear(page, error)
    assert page.status_code == 200 and 'class="error"' not in page.text  # only a known key selects a message


# ---- ids typed into forms and addresses -----------------------------------------------------------------
@settings(FUZZ, max_examples=20)
@given(raw=mostly(st.sampled_from(["1", "²", "١٢", "0", "-1", "2147483648", "9" * 30, "9" * 5000, "1,²,3"]), PARAM))
@example(raw="99999999999999999999")  # schedule ids: OverflowError in the database
@example(raw="²")  # unanswered ids: "²".isdigit() is True, int("²") raised ValueError
def test_schedule_and_unanswered_forms_with_any_ids(console, raw):
    deleted = console.post(f"/console/schedules/{quote(raw, safe='') or '%20'}/delete", data={"csrf": console.csrf})
    clear(deleted)
    assert deleted.status_code in (303, 307, 400, 404, 405)
    drafted = console.post("/console/faq/unanswered/draft", data={"csrf": console.csrf, "ids": raw})
    clear(drafted)
    assert drafted.status_code == 404  # no unanswered questions: nothing to draft from


# ---- case status --------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=40)
@given(
    kind=st.sampled_from(["applications"] * 4 + ["bookings"]),
    own=mostly(st.just(True), st.just(False)),
    raw_ref=st.one_of(FIELD, PARAM),
    status=mostly(
        st.sampled_from(["reviewing"] * 4 + ["rejected", "accepted", "closed", "confirmed", "cancelled"]), FIELD
    ),
    reason=TEXT,
    notify=st.sampled_from(["", "1", "on", "\x00"]),
)
@example(kind="applications", own=True, raw_ref="", status="reviewing", reason="<script>alert(1)</script>", notify="1")
@example(kind="applications", own=True, raw_ref="", status="closed", reason="<b>不行</b>", notify="")
@example(kind="applications", own=True, raw_ref="", status="reviewing", reason="a\x00b", notify="")
def test_case_status_form_with_any_values(console, kind, own, raw_ref, status, reason, notify):
    reference = console.store.add_application(application()).reference if own else raw_ref
    url = f"/console/{kind}/{quote(reference, safe='') or '%20'}/status"
    response = console.post(url, data={"csrf": console.csrf, "status": status, "reason": reason, "notify": notify})
    clear(response, reference)
    event(f"{'own' if own else 'other'} {response.status_code}")
    shown = reason.strip()[:2000]
    if response.status_code == 400 and "<" in shown and 'name="reason"' in response.text:
        escaped_in(shown, response.text)  # the form comes back as it was filled in
    if response.status_code == 303 and own:
        page = console.get(response.headers["location"])
        clear(page)
        assert page.status_code == 200
        if "<" in shown:
            escaped_in(shown, page.text)


# ---- lists with filters ----------------------------------------------------------------------------------
DATES = st.one_of(
    st.sampled_from(["9999-12-31", "0001-01-01", "2026-02-30", "2026-1-1", "2026-11-26", "昨天"]),
    st.dates().map(str),
    FIELD,
)


@settings(FUZZ, max_examples=30)
@given(
    path=st.sampled_from(
        [
            "/console/applications",
            "/console/bookings",
            "/console/escalations",
            "/console/stats",
            "/console/faq",
            "/console/users",
            "/console/schedules",
        ]
    ),
    params=st.fixed_dictionaries(
        {},
        optional={
            "q": FIELD,
            "status": FIELD,
            "town": FIELD,
            "matter": FIELD,
            "date_from": DATES,
            "date_to": DATES,
            "from": DATES,
            "to": DATES,
            "channel": FIELD,
            "topic": FIELD,
            "msg": FIELD,
            "error": FIELD,
            "created": FIELD,
        },
    ),
)
@example(path="/console/applications", params={"date_to": "9999-12-31"})
@example(path="/console/stats", params={"from": "9999-12-01", "to": "9999-12-31"})
@example(path="/console/applications", params={"q": "%' OR 1=1 --"})
def test_list_pages_with_any_filters(console, path, params):
    response = console.get(path, params=params)
    clear(response)
    assert response.status_code == 200, response.text[:300]
    for value in params.values():
        if value in HTML_PAYLOADS and "<" in value:  # shown back (or not), but never as markup
            assert value not in response.text


# ---- FAQ draft ------------------------------------------------------------------------------------------
LINES = st.lists(FIELD, max_size=8).map("\n".join)
CITATIONS = st.one_of(
    LINES,
    st.just("中华人民共和国民法典 | 1076 | 夫妻双方自愿离婚的"),
    st.builds(lambda law, n: f"{law} | {n}", FIELD, PARAM),
)
#: Changes to a valid entry's form: some fields (or none) get any value.
FAQ_CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.from_regex(r"[a-z][a-z0-9-]{2,30}", fullmatch=True), FIELD),
        "topic": st.one_of(st.sampled_from(sorted(TOPICS)), FIELD),
        "subtopic": FIELD,
        "question": FIELD,
        "paraphrases": LINES,
        "answer": st.one_of(FIELD, TEXT),
        "citations": CITATIONS,
        "reviewed_on": DATES,
        "draft_id": st.one_of(PARAM, st.sampled_from(["1", "²", "١٢", "9" * 30, "9" * 5000])),
        "editing": FIELD,
    },
)


@pytest.fixture(scope="module")
def faq_entry(small_kb) -> dict:
    return kb.entry_to_dict(kb.load(small_kb / "faq", StatuteLibrary.load(small_kb / "laws")).entries[0])


@settings(FUZZ, max_examples=30)
@given(changes=FAQ_CHANGES)
@example(changes={"question": "<script>alert(1)</script>离婚怎么办？", "subtopic": "<b>协议</b>"})
@example(changes={"id": "x-<script>", "answer": "<img src=x onerror=alert(1)>", "citations": "<x> | 1"})
@example(changes={"draft_id": "²"})  # "²".isdigit() is True, int("²") raised ValueError
@example(changes={"draft_id": "99999999999999999999"})  # too large for the database: OverflowError
@example(changes={"draft_id": "9" * 5000})  # int() refuses more than 4300 digits
def test_faq_draft_form_with_any_values(console, faq_entry, changes):
    form = form_data(faq_entry, console.csrf, **changes)
    response = console.post("/console/faq/save", data=form)
    clear(response)
    event(f"status {response.status_code}")
    if response.status_code == 422:  # the form comes back with the problems, nothing lost
        for name in ("question", "answer", "subtopic"):
            if "<" in form[name]:
                escaped_in(form[name].replace("\r\n", "\n"), response.text)
    elif response.status_code == 303:
        page = console.get(response.headers["location"])
        clear(page)
        assert page.status_code == 200
        for name in ("question", "subtopic"):
            if "<" in form[name].strip():
                escaped_in(form[name].strip(), page.text)


# ---- user creation ----------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=20)
@given(
    username=st.one_of(st.uuids().map(lambda u: f"u{u.hex[:10]}"), FIELD, HTML, SQL),
    display_name=st.one_of(FIELD, HTML),
    role=mostly(st.sampled_from([r.value for r in Role]), FIELD),
    password=mostly(st.just(PASSWORD), FIELD),
    committees=st.lists(st.one_of(st.sampled_from(["town-430321100", "town-430321101"]), FIELD), max_size=3),
)
@example(
    username="<script>alert(1)</script>",
    display_name="<img src=x onerror=alert(1)>",
    role="staff",
    password=PASSWORD,
    committees=[],
)
@example(username="x" * 64, display_name="长" * 65, role="staff", password=PASSWORD, committees=[])
@example(username="nul\x00user", display_name="", role="staff", password=PASSWORD, committees=[])
def test_user_creation_form_with_any_values(console, username, display_name, role, password, committees):
    response = console.post(
        "/console/users",
        data={
            "csrf": console.csrf,
            "username": username,
            "role": role,
            "display_name": display_name,
            "password": password,
            "committees": committees,
        },
    )
    clear(response)
    assert response.status_code in (303, 400), response.text[:300]
    if response.status_code == 400:
        return
    assert response.headers["location"] == "/console/users?done=created"  # errors are a 400 page of their own
    event("created")
    page = console.get(response.headers["location"])
    clear(page)
    assert page.status_code == 200
    for value in (username.strip(), display_name.strip()):
        if "<" in value:
            escaped_in(value, page.text)
