"""FAQ publishing in headless Chromium on an office-PC screen: a publicity user edits an answer (with
the citation picker) and sends it for review, an admin approves and publishes, and the running bot
answers with the new text, without a restart. Also the try, versions/diff and unanswered pages.
(The test stack runs on its own copy of the knowledge base and FAQ index: see Stack.)"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bot.domain import UnansweredQuestion
from bot.services.accounts import Accounts, Role
from bot.settings import Settings
from bot.storage.sql import SqlCaseStore, make_engine
from tests.integration.conftest import follow, patient_wait

pytestmark = pytest.mark.integration
PASSWORD = "county-bureau-2026"


def sign_in(driver, url, username, wait):
    driver.get(f"{url}/console/login")
    driver.find_element("id", "username").send_keys(username)
    driver.find_element("id", "password").send_keys(PASSWORD)
    follow(driver, "login")
    wait.until(lambda d: "/console/login" not in d.current_url)


def test_edit_review_publish_through_the_console(stack, web_url, desk_browser, screenshots):
    from selenium.webdriver.support.ui import Select

    from bot.composition import load_embedder
    from bot.knowledge import kb
    from bot.knowledge.laws import StatuteLibrary
    from bot.retrieval.faq import FaqRetriever

    kb_dir, models = Path(stack.env["LEGAL_TRIAGE_KB_DIR"]), Path(stack.env["LEGAL_TRIAGE_MODELS_DIR"])
    url = web_url
    engine = make_engine(stack.env["LEGAL_TRIAGE_DATABASE_URL"])
    accounts = Accounts(engine)
    accounts.create("xuan", PASSWORD, Role.PUBLICITY, "宣传干事")
    accounts.create("chief", PASSWORD, Role.ADMIN, "局管理员")
    store = SqlCaseStore(engine)
    for text in (
        "山林承包合同到期了怎么续签",
        "村里山林承包合同到期怎么续签",
        "山林承包到期了合同怎么续",
        "网上买到假货商家不退款怎么办",
    ):
        store.record_unanswered(UnansweredQuestion("web", text, "none", "合同纠纷"))

    library = StatuteLibrary.load(kb_dir / "laws")
    entry = next(e for e in kb.load(kb_dir / "faq", library).entries if e.topic == "婚姻家庭")
    new_answer = entry.answer + "（2026 年 11 月普法宣传组复核。）"
    driver, wait = desk_browser, patient_wait(desk_browser, 60)

    sign_in(driver, url, "xuan", wait)
    driver.get(f"{url}/console/faq")
    driver.find_element("id", "q").send_keys(entry.paraphrases[0])
    follow(driver, "search")
    wait.until(lambda d: entry.id in d.find_element("id", "rows").text)
    driver.save_screenshot(str(screenshots / "console_faq_list.png"))
    driver.get(f"{url}/console/faq/{entry.id}/edit")
    answer = driver.find_element("id", "f-answer")
    answer.clear()
    answer.send_keys(new_answer)
    citations = driver.find_element("id", "f-citations").get_attribute("value")
    Select(driver.find_element("id", "pick-law")).select_by_visible_text("中华人民共和国民法典")
    driver.find_element("id", "pick-q").send_keys("1084")
    driver.find_element("id", "pick-search").click()
    wait.until(lambda d: d.find_elements("css selector", "#pick-results li"))
    assert "第1084条" in driver.find_element("id", "pick-results").text
    driver.find_element("css selector", ".pick-add").click()
    assert driver.find_element("id", "f-citations").get_attribute("value").endswith("中华人民共和国民法典 | 1084")
    driver.save_screenshot(str(screenshots / "console_faq_edit_picker.png"))
    driver.execute_script("document.getElementById('f-citations').value = arguments[0];", citations)
    follow(driver, "save")
    wait.until(lambda d: d.find_elements("id", "submit"))
    draft_url = driver.current_url
    follow(driver, "submit")
    wait.until(lambda d: "待审核" in d.find_element("id", "draft-status").text)
    assert not driver.find_elements("id", "approve")  # the author cannot approve

    follow(driver, driver.find_element("css selector", ".logout button"))
    sign_in(driver, url, "chief", wait)
    driver.get(draft_url)
    follow(driver, "approve")
    # the draft page reloads itself while the index builds
    patient_wait(driver, 400).until(lambda d: "已发布" in d.find_element("id", "draft-status").text)
    assert "error" not in driver.current_url

    embedder = load_embedder(Settings(knowledge_base_dir=kb_dir, models_dir=models))
    assert FaqRetriever(models / "faq_index", embedder).get(entry.id).answer == new_answer
    # the running bot (which follows the published index) now answers with the edited text
    sender = f"web:{uuid.uuid4()}"

    def bot_answer() -> str:
        replies = stack.say(sender, entry.question)
        if any(b.get("title", "").endswith(entry.question) for r in replies for b in r.get("buttons", [])):
            number = next(
                b["title"].split(".")[0]
                for r in replies
                for b in r.get("buttons", [])
                if b["title"].endswith(entry.question)
            )
            replies = stack.say(sender, number)
        return "\n".join(r.get("text", "") for r in replies)

    patient_wait(driver, 30).until(lambda d: "普法宣传组复核" in bot_answer())

    driver.get(f"{url}/console/faq/try")
    driver.find_element("id", "try-q").send_keys(entry.question)
    follow(driver, "try")
    wait.until(lambda d: d.find_elements("id", "decision"))
    assert entry.id in driver.find_element("id", "hits").text
    driver.save_screenshot(str(screenshots / "console_faq_try.png"))

    driver.get(f"{url}/console/faq/versions")
    assert "当前使用" in driver.page_source
    driver.save_screenshot(str(screenshots / "console_faq_versions.png"))
    follow(driver, driver.find_element("link text", "与当前比较"))
    wait.until(lambda d: "版本比较" in d.title)
    assert entry.id in driver.page_source and "普法宣传组复核" in driver.page_source
    driver.save_screenshot(str(screenshots / "console_faq_diff.png"))

    driver.get(f"{url}/console/faq/unanswered")
    assert "网上买到假货商家不退款怎么办" in driver.page_source
    driver.save_screenshot(str(screenshots / "console_faq_unanswered.png"))
    follow(driver, driver.find_elements("css selector", ".make-draft")[0])
    wait.until(lambda d: d.find_elements("id", "f-question"))
    assert driver.find_element("id", "f-question").get_attribute("value")
