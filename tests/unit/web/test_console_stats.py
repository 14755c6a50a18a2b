"""The statistics page: each aggregation on a seeded database, the page, the CSV exports, permissions."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from bot.domain import UnansweredQuestion
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, WebOutbox
from bot.settings import Settings
from bot.storage.sql import (
    SqlCaseStore,
    applications,
    bookings,
    consultations,
    escalations,
    make_engine,
    unanswered_questions,
    upgrade,
)
from bot.web.app import create_app
from bot.web.console import stats
from tests.conftest import postgres_schema
from tests.fakes.rasa import FakeRasa
from tests.support.console import login

START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 30)


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour)


def seed(engine) -> None:
    """November 2026: 8 consultations by 5 people, 2 escalations, applications, bookings, unanswered texts."""
    rows = [  # day, sender, channel, topic, town, kind
        (2, "a", "web", "婚姻家庭", "花石镇", "confident"),
        (2, "a", "web", "婚姻家庭", "花石镇", "suggest"),
        (3, "b", "wx", "劳动纠纷", "花石镇", "statute"),
        (9, "c", "tg", "劳动纠纷", None, "chosen"),
        (9, "c", "tg", None, None, "none"),
        (10, "d", "web", "劳动纠纷", "白石乡", "confident"),
        (30, "e", "web", "债权债务", "白石乡", "none"),
    ]
    rows.append((30, "e", "web", "债权债务", "白石乡", "confident"))
    with engine.begin() as conn:
        conn.execute(
            insert(consultations),
            [
                {"at": at(d, 23 if d == 30 else 10), "sender_hash": s, "channel": c, "topic": t, "town": w, "kind": k}
                for d, s, c, t, w, k in rows
            ],
        )
        # outside the range: the day before and the day after
        conn.execute(
            insert(consultations),
            [
                {"at": dt.datetime(2026, 10, 31, 23, 59), "sender_hash": "z", "channel": "web", "kind": "confident"},
                {"at": dt.datetime(2026, 12, 1, 0, 0), "sender_hash": "z", "channel": "web", "kind": "confident"},
            ],
        )
        conn.execute(
            insert(escalations),
            [
                {
                    "sender_id": f"web:{n}",
                    "reason": "request",
                    "priority": 1,
                    "context": "{}",
                    "status": "waiting",
                    "created_at": when,
                }
                for n, when in ((1, at(2)), (2, at(9)), (3, dt.datetime(2026, 12, 2)))
            ],
        )
        conn.execute(
            insert(applications),
            [
                {
                    "reference": f"FY-{n}",
                    "sender_id": "web:x",
                    "name": "某",
                    "phone": "1",
                    "town": "花石镇",
                    "matter": "劳动报酬",
                    "opponent": "某",
                    "facts": "某",
                    "economic_status": "困难",
                    "eligibility_note": "",
                    "status": status,
                    "created_at": at(5),
                    "updated_at": at(5),
                }
                for n, status in enumerate(("received", "received", "accepted"))
            ],
        )
        conn.execute(
            insert(bookings),
            [
                {
                    "reference": f"TJ-{n}",
                    "sender_id": "web:x",
                    "dispute_type": "邻里纠纷",
                    "parties": "某",
                    "town": "白石乡",
                    "facts": "某",
                    "name": "某",
                    "phone": "1",
                    "committee_id": "c1",
                    "slot_start": at(20),
                    "status": status,
                    "created_at": at(6),
                    "updated_at": at(6),
                }
                for n, status in enumerate(("booked", "held", "settled", "settled", "not_settled", "cancelled"))
            ],
        )
        conn.execute(
            insert(unanswered_questions),
            [
                {"at": at(d), "channel": "web", "text": q, "reason": "none"}
                for d, q in (
                    (2, "<b>宅基地</b>怎么办"),
                    (3, "<b>宅基地</b>怎么办"),
                    (4, "=HYPERLINK(1)"),
                    (4, "狗咬人谁负责"),
                    (4, "狗咬人谁负责"),
                    (4, "狗咬人谁负责"),
                )
            ],
        )


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'stats.db'}"
    upgrade(url)
    engine = make_engine(url)
    seed(engine)
    return engine


def check_numbers(engine) -> None:
    daily = stats.per_day(engine, START, END)
    assert len(daily) == 30 and sum(d.count for d in daily) == 8
    assert daily[1] == stats.DayCount(dt.date(2026, 11, 2), 2) and daily[29].count == 2
    weekly = stats.per_week(engine, START, END)
    assert weekly[0] == stats.DayCount(dt.date(2026, 10, 26), 0)  # Sunday 1 Nov belongs to the week of 26 Oct
    assert [w.count for w in weekly] == [0, 3, 3, 0, 0, 2] and weekly[-1].day == dt.date(2026, 11, 30)
    assert stats.by_topic(engine, START, END) == [("劳动纠纷", 3), ("债权债务", 2), ("婚姻家庭", 2), ("未填写", 1)]
    assert stats.by_town(engine, START, END) == [("白石乡", 3), ("花石镇", 3), ("未填写", 2)]
    assert stats.by_channel(engine, START, END) == [("网页", 5), ("Telegram", 2), ("微信", 1)]
    answered = stats.answer_rate(engine, START, END)
    assert (answered.numerator, answered.denominator, answered.percent) == (5, 8, "62.5%")
    handed = stats.handoff_rate(engine, START, END)
    assert (handed.numerator, handed.denominator, handed.percent) == (2, 5, "40.0%")
    assert stats.applications_by_status(engine, START, END) == [
        ("已受理", 2),
        ("审查中", 0),
        ("给予援助", 1),
        ("不予援助", 0),
        ("已结案", 0),
    ]
    assert dict(stats.mediations_by_status(engine, START, END)) == {
        "已预约": 1,
        "已确认": 0,
        "已调解": 1,
        "调解成功": 2,
        "调解未成功": 1,
        "已取消": 1,
    }
    summary = stats.mediation_summary(engine, START, END)
    assert (summary.mediated, summary.settled, summary.settlement.percent) == (4, 2, "50.0%")
    assert stats.top_unanswered(engine, START, END) == [
        ("狗咬人谁负责", 3),
        ("<b>宅基地</b>怎么办", 2),
        ("=HYPERLINK(1)", 1),
    ]
    assert stats.top_unanswered(engine, START, END, limit=1) == [("狗咬人谁负责", 3)]


def test_each_chart_counts_the_seeded_rows(engine):
    check_numbers(engine)


def test_an_empty_range_gives_zeros_not_errors(engine):
    day = dt.date(2027, 1, 5)
    assert stats.per_day(engine, day, day) == [stats.DayCount(day, 0)]
    assert stats.by_topic(engine, day, day) == []
    assert stats.answer_rate(engine, day, day).percent == "—"
    assert stats.handoff_rate(engine, day, day).value is None
    assert stats.mediation_summary(engine, day, day).settlement.percent == "—"


@pytest.fixture
def pg_engine():
    with postgres_schema() as engine:
        seed(engine)
        yield engine


@pytest.mark.postgres
def test_the_same_numbers_on_postgresql(pg_engine):
    check_numbers(pg_engine)


def test_parse_range_defaults_and_messages():
    today = dt.date(2026, 11, 26)
    assert stats.parse_range("", "", today) == (dt.date(2026, 10, 28), today, "")
    assert stats.parse_range("2026-01-01", "2026-12-31", today) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31), "")
    assert stats.parse_range("2026-13-01", "", today)[2] == "日期格式不对，请按 2026-01-31 这样填写"
    assert stats.parse_range("2026-11-05", "2026-11-01", today)[2] == "开始日期不能晚于结束日期"
    assert "3年" in stats.parse_range("2020-01-01", "2026-01-01", today)[2]


# ---- the page ---------------------------------------------------------------------------------------
@pytest.fixture
def client(accounts, tmp_path):  # noqa: F811
    url = f"sqlite:///{tmp_path / 'console.db'}"  # the accounts fixture's database
    engine = make_engine(url)
    seed(engine)
    store = SqlCaseStore(engine)
    rasa = FakeRasa()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store)}), rasa, HandoffPolicy())
    app = create_app(Settings(), rasa=rasa, handoff=handoff, accounts=accounts)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    client.accounts = accounts
    return client


RANGE = "from=2026-11-01&to=2026-11-30"


def test_the_page_shows_charts_and_numbers(client):
    login(client, "wang")
    page = client.get(f"/console/stats?{RANGE}")
    assert page.status_code == 200
    html = page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert '<link rel="stylesheet" href="/console/static/stats.css">' in html
    assert html.count("<svg") == 7 and "<script" not in html and "style=" not in html
    assert 'id="answer-rate">62.5%' in html and "答复 5 / 咨询 8 次" in html
    assert 'id="handoff-rate">40.0%' in html and 'id="settlement-rate">50.0%' in html
    assert "<title>劳动纠纷：3</title>" in html and "<title>2026-11-02：2</title>" in html
    assert "&lt;b&gt;宅基地&lt;/b&gt;怎么办" in html and "<b>宅基地</b>" not in html  # escaped
    for chart in stats.CHARTS:
        assert f'href="/console/stats/{chart}.csv?from=2026-11-01&amp;to=2026-11-30"' in html
    assert client.get("/console/static/stats.css").status_code == 200


def test_a_phone_number_never_reaches_the_statistics_page(client, tmp_path):
    store = SqlCaseStore(make_engine(f"sqlite:///{tmp_path / 'console.db'}"))
    for _ in range(3):  # asked often: among the top unanswered questions
        store.record_unanswered(
            UnansweredQuestion("web", "我叫李小红电话13812345678，低保户能免费请律师吗", "none", at=at(12))
        )
    login(client, "wang")
    page = client.get(f"/console/stats?{RANGE}")
    export = client.get(f"/console/stats/unanswered.csv?{RANGE}")
    assert page.status_code == 200 and "低保户能免费请律师吗" in page.text and "低保户能免费请律师吗" in export.text
    for shown in (page.text, export.text):
        assert "13812345678" not in shown and "李小红" not in shown


def test_default_range_is_the_last_30_days(client):
    login(client)
    today = dt.date.today()
    html = client.get("/console/stats").text
    assert f'value="{(today - dt.timedelta(days=29)).isoformat()}"' in html and f'value="{today.isoformat()}"' in html


def test_bad_dates_show_a_message_and_keep_what_was_typed(client):
    login(client)
    page = client.get("/console/stats?from=2026-11-40&to=2026-11-30")
    assert page.status_code == 200
    assert "日期格式不对" in page.text and 'value="2026-11-40"' in page.text
    assert "开始日期不能晚于结束日期" in client.get("/console/stats?from=2026-12-01&to=2026-11-01").text


def test_csv_exports_have_a_bom_and_the_chart_rows(client):
    login(client, "pufa")  # publicity may see statistics too
    response = client.get(f"/console/stats/topics.csv?{RANGE}")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert response.content.decode("utf-8-sig").splitlines() == [
        "领域,咨询次数",
        "劳动纠纷,3",
        "债权债务,2",
        "婚姻家庭,2",
        "未填写,1",
    ]
    daily = client.get(f"/console/stats/daily.csv?{RANGE}").content.decode("utf-8-sig").splitlines()
    assert len(daily) == 31 and daily[2] == "2026-11-02,2"
    rates = client.get(f"/console/stats/rates.csv?{RANGE}").content.decode("utf-8-sig").splitlines()
    assert rates[1:] == ["答复率,5,8,62.5%", "转人工率,2,5,40.0%"]
    mediations = client.get(f"/console/stats/mediations.csv?{RANGE}").content.decode("utf-8-sig")
    assert "调解成功,2" in mediations and "调解成功率,50.0%" in mediations
    unanswered = client.get(f"/console/stats/unanswered.csv?{RANGE}").content.decode("utf-8-sig").splitlines()
    assert unanswered[1] == "狗咬人谁负责,3" and "'=HYPERLINK(1),1" in unanswered  # no formula injection
    for chart in stats.CHARTS:
        assert client.get(f"/console/stats/{chart}.csv?{RANGE}").status_code == 200
    assert [e.action for e in client.accounts.audit_entries(50)].count("export_stats") == 5 + len(stats.CHARTS)


def test_csv_errors_are_pages(client):
    login(client)
    assert client.get(f"/console/stats/nope.csv?{RANGE}").status_code == 404
    bad = client.get("/console/stats/topics.csv?from=x")
    assert bad.status_code == 400 and "日期格式不对" in bad.text and "Traceback" not in bad.text


def test_login_is_required(client):
    for path in ("/console/stats", f"/console/stats/topics.csv?{RANGE}"):
        response = client.get(path)
        assert response.status_code == 303 and "/console/login" in response.headers["location"]


def test_without_a_database_the_page_explains(accounts):  # noqa: F811
    from bot.storage.memory import InMemoryCaseStore

    store, rasa = InMemoryCaseStore(), FakeRasa()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store)}), rasa, HandoffPolicy())
    client = TestClient(
        create_app(Settings(), rasa=rasa, handoff=handoff, accounts=accounts),
        raise_server_exceptions=False,
        follow_redirects=False,
    )
    login(client)
    page = client.get("/console/stats")
    assert page.status_code == 503 and "统计需要数据库" in page.text
