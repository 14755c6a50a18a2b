"""The FAQ console pages: edit into drafts with checks, review by another user, publish into a
temporary knowledge base and index, try a question, versions and rollback, unanswered clusters."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
from fastapi.testclient import TestClient

from bot.domain import UnansweredQuestion
from bot.knowledge import kb
from bot.knowledge.laws import StatuteLibrary
from bot.retrieval import faq as retrieval
from bot.retrieval.embedding import HashingEmbedder
from bot.services.clustering import cluster_questions
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, WebOutbox
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.memory import InMemoryCaseStore
from bot.web.app import create_app
from bot.web.console import faq_admin
from tests.fakes.rasa import FakeRasa
from tests.support.console import login

ENTRY = "divorce-child-support"


@pytest.fixture
def faq(tmp_path, accounts, monkeypatch):  # noqa: F811
    kb_dir, models = tmp_path / "kb", tmp_path / "models"
    shutil.copytree(PROJECT_ROOT / "knowledge_base", kb_dir)
    settings = Settings(knowledge_base_dir=kb_dir, models_dir=models)
    embedder = HashingEmbedder()
    library = StatuteLibrary.load(settings.laws_dir)
    retrieval.FaqIndex.build(kb.load(kb_dir / "faq", library), embedder).save(settings.faq_index_dir)
    store = InMemoryCaseStore()
    rasa = FakeRasa()
    handoff = Handoff(store, Outbound({"web": WebOutbox(store)}), rasa, HandoffPolicy())
    client = TestClient(
        create_app(settings, rasa=rasa, handoff=handoff, accounts=accounts, embedder_factory=lambda: embedder),
        raise_server_exceptions=False,
        follow_redirects=False,
    )
    client.settings, client.store, client.embedder, client.library = settings, store, embedder, library
    accounts.create("pufa2", "correct-horse-42", faq_admin_role(), display_name="PUFA2")
    return client


def faq_admin_role():
    from bot.services.accounts import Role

    return Role.PUBLICITY


def some_entry(client) -> dict:
    knowledge = kb.load(client.settings.knowledge_base_dir / "faq", client.library)
    return kb.entry_to_dict(knowledge.entries[0])


def form_data(entry: dict, csrf: str, **changes) -> dict:
    row = faq_admin.form_of(entry)
    return row | {"csrf": csrf, "editing": entry["id"]} | changes


def test_list_search_and_permissions(faq):
    login(faq, "wang")
    assert faq.get("/console/faq").status_code == 403
    login(faq, "pufa")
    entry = some_entry(faq)
    page = faq.get("/console/faq", params={"q": entry["paraphrases"][0]})
    assert page.status_code == 200 and entry["id"] in page.text and f"/console/faq/{entry['id']}/edit" in page.text
    assert "没有找到" in faq.get("/console/faq", params={"q": "完全不会出现的词语组合xyz"}).text
    edit = faq.get(f"/console/faq/{entry['id']}/edit")
    assert edit.status_code == 200 and entry["question"] in edit.text and "/console/static/faq.js" in edit.text
    assert faq.get("/console/faq/no-such-entry/edit").status_code == 404


def test_bad_input_is_shown_next_to_the_fields_and_nothing_is_lost(faq):
    csrf = login(faq, "pufa")
    entry = some_entry(faq)
    data = form_data(
        entry,
        csrf,
        answer="请拨打 0731-5678123 咨询，我们会帮你。",
        paraphrases="只有一种问法",
        citations="中华人民共和国民法典 | 99999",
    )
    page = faq.post("/console/faq/save", data=data)
    assert page.status_code == 422
    assert "本地电话号码" in page.text and "至少需要 8 种问法" in page.text and "没有第 99999 条" in page.text
    assert "请拨打 0731-5678123 咨询，我们会帮你。" in page.text and "只有一种问法" in page.text
    assert faq.post("/console/faq/save", data=form_data(entry, "forged")).status_code == 400
    new = form_data(entry, csrf, editing="")  # a new entry may not reuse an id
    assert "已被另一条问答使用" in faq.post("/console/faq/save", data=new).text


def test_draft_review_and_publish_updates_the_kb_and_the_index(faq, accounts):  # noqa: F811
    csrf = login(faq, "pufa")
    entry = some_entry(faq)
    new_answer = entry["answer"] + "（本条已由普法宣传组更新。）"
    saved = faq.post("/console/faq/save", data=form_data(entry, csrf, answer=new_answer))
    assert saved.status_code == 303
    draft_url = saved.headers["location"]
    assert faq.post(f"{draft_url}/submit", data={"csrf": csrf}).status_code == 303
    assert "待审核" in faq.get(draft_url).text
    assert faq.post(f"{draft_url}/approve", data={"csrf": csrf}).status_code == 409  # not the author
    csrf = login(faq, "pufa2")
    before = retrieval.current_version(faq.settings.faq_index_dir)
    done = faq.post(f"{draft_url}/approve", data={"csrf": csrf})
    assert done.status_code == 303 and faq.post(f"{draft_url}/approve", data={"csrf": csrf}).status_code == 409
    for _ in range(600):  # the build runs in a worker thread; the page says so meanwhile
        page = faq.get(draft_url).text
        if "发布中" not in page:
            break
        assert 'id="publishing"' in page
        time.sleep(0.1)
    assert 'id="draft-status">已发布' in page
    assert retrieval.current_version(faq.settings.faq_index_dir) != before
    live = retrieval.FaqRetriever(faq.settings.faq_index_dir, faq.embedder).get(entry["id"])
    assert live.answer == new_answer
    knowledge = kb.load(faq.settings.knowledge_base_dir / "faq", faq.library)
    assert knowledge.get(entry["id"]).answer == new_answer
    actions = [(e.username, e.action) for e in accounts.audit_entries()]
    assert ("pufa", "faq_submit") in actions and ("pufa2", "faq_publish") in actions

    # the diff against the old version shows the changed answer; rollback points back to it
    diff = faq.get(f"/console/faq/versions/{before}")
    assert diff.status_code == 200 and entry["id"] in diff.text and "普法宣传组更新" in diff.text
    versions = faq.get("/console/faq/versions").text
    assert "当前使用" in versions and before in versions
    assert faq.post(f"/console/faq/versions/{before}/rollback", data={"csrf": "x"}).status_code == 400
    assert faq.post(f"/console/faq/versions/{before}/rollback", data={"csrf": csrf}).status_code == 303
    assert retrieval.current_version(faq.settings.faq_index_dir) == before
    assert ("pufa2", "faq_rollback") in [(e.username, e.action) for e in accounts.audit_entries()]
    assert faq.get("/console/faq/versions/v-nope").status_code == 404


def test_a_rejected_draft_goes_back_to_its_author(faq):
    csrf = login(faq, "pufa")
    entry = some_entry(faq)
    draft_url = faq.post("/console/faq/save", data=form_data(entry, csrf)).headers["location"]
    faq.post(f"{draft_url}/submit", data={"csrf": csrf})
    csrf2 = login(faq, "admin")
    faq.post(f"{draft_url}/reject", data={"csrf": csrf2, "note": "引用的条文不对"})
    csrf = login(faq, "pufa")
    page = faq.get(draft_url).text
    assert "已退回" in page and "引用的条文不对" in page and "继续修改" in page


def test_article_picker_offers_only_real_articles(faq):
    login(faq, "pufa")
    found = faq.get("/console/faq/articles.json", params={"law": "中华人民共和国民法典", "q": "第1084条"}).json()
    assert [(a["law"], a["number"]) for a in found["articles"]] == [("中华人民共和国民法典", 1084)]
    assert faq.get("/console/faq/articles.json", params={"law": "中华人民共和国民法典", "q": "99999"}).json() == {
        "articles": []
    }
    words = faq.get("/console/faq/articles.json", params={"q": "抚养费"}).json()["articles"]
    assert words and all("抚养费" in a["text"] for a in words)
    for a in words:
        assert faq.library.article(a["law"], a["number"]) is not None


def test_try_a_question_shows_scores_and_the_decision(faq):
    login(faq, "pufa")
    entry = some_entry(faq)
    page = faq.get("/console/faq/try", params={"q": entry["question"]})
    assert page.status_code == 200 and entry["id"] in page.text and 'id="decision" class="tag">直接回答' in page.text


def test_unanswered_questions_are_clustered_into_a_draft(faq):
    for text, reason in (
        ("村里的山林承包合同到期了怎么续", "none"),
        ("山林承包合同到期了怎么续签", "low_confidence"),
        ("山林承包合同到期怎么续", "none"),
        ("网上买的手机是假货", "fallback"),
    ):
        faq.store.record_unanswered(UnansweredQuestion("web", text, reason, "合同纠纷"))
    index = retrieval.FaqRetriever(faq.settings.faq_index_dir, faq.embedder).index
    clusters = cluster_questions(faq.store.unanswered(), faq.embedder, index)
    assert [c["count"] for c in clusters] == [3, 1] and clusters[0]["topic"] == "合同纠纷"
    csrf = login(faq, "pufa")
    page = faq.get("/console/faq/unanswered")
    assert page.status_code == 200 and "网上买的手机是假货" in page.text
    ids = re.findall(r'name="ids" value="([^"]+)"', page.text)
    draft = faq.post("/console/faq/unanswered/draft", data={"csrf": csrf, "ids": ids[0]})
    assert draft.status_code == 200 and "由未答问题生成" in draft.text and "<option selected>合同纠纷" in draft.text


def test_a_phone_number_never_reaches_the_unanswered_page(faq):
    faq.store.record_unanswered(UnansweredQuestion("web", "我电话138-1234-5678，邻居把路堵了怎么办", "none", "侵权"))
    login(faq, "pufa")
    page = faq.get("/console/faq/unanswered")
    assert page.status_code == 200 and "邻居把路堵了怎么办" in page.text
    assert "5678" not in page.text and "[电话]" in page.text


def test_version_diff_lists_added_removed_and_changed(tmp_path):
    def write(name, rows):
        (tmp_path / name).mkdir()
        (tmp_path / name / "entries.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    write("va", [{"id": "a", "question": "甲", "answer": "旧"}, {"id": "b", "question": "乙", "answer": "同"}])
    write("vb", [{"id": "a", "question": "甲", "answer": "新"}, {"id": "c", "question": "丙", "answer": "加"}])
    diff = faq_admin.diff_versions(tmp_path, "va", "vb")
    assert [e["id"] for e in diff["added"]] == ["c"] and [e["id"] for e in diff["removed"]] == ["b"]
    assert diff["changed"][0]["fields"] == [{"name": "answer", "lines": ["-旧", "+新"]}]
