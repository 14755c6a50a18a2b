"""Actions against in-memory services: the returned events and what was uttered."""

from __future__ import annotations

from actions.answers import ActionAnswerFollowup, ActionAnswerQuestion, ActionChooseOption, ActionShowLegalBasis
from actions.forms import (
    ActionAskMdSlot,
    ActionSubmitLegalAid,
    ActionSubmitMediation,
    ValidateLegalAidForm,
    ValidateMediationForm,
)
from actions.handoff import (
    ActionCheckStatus,
    ActionEscalate,
    ActionHandleEmergency,
    ActionOutOfScope,
    ActionRequestCancel,
)
from bot.errors import StorageUnavailableError
from bot.wording import NOT_SAVED
from tests.support.helpers import make_tracker, run_action, slot_events

LA_SLOTS = {
    "la_matter": "wages",
    "la_consent": True,
    "la_name": "张建国",
    "la_phone": "13812345678",
    "la_town": "花石镇",
    "la_village": "未提供",
    "la_opponent": "某建筑公司",
    "la_facts": "工地干了三个月没发工资",
    "la_deadline": "无",
    "la_economic": "低保户",
    "la_confirm": True,
}


def test_confident_answer_has_basis_and_quick_replies(fake_services, knowledge):
    entry = knowledge.get("labour-wage-arrears") or knowledge.entries[0]
    events, messages = run_action(ActionAnswerQuestion(), make_tracker(entry.question))
    assert slot_events(events)["last_faq_id"] == entry.id
    assert entry.answer[:20] in messages[0]["text"] and "法律依据" in messages[0]["text"]
    titles = [b["title"] for b in messages[0]["buttons"]]
    assert "转人工" in titles and "继续提问" in titles


def test_nothing_usable_clarifies_then_offers_a_human(fake_services):
    events, messages = run_action(ActionAnswerQuestion(), make_tracker("zzqq xx"))
    assert slot_events(events)["clarify_count"] == 1 and "具体" in messages[0]["text"]
    # counted for the statistics, and kept for the FAQ writers
    assert (
        fake_services.store.consultations[-1].kind == "none" and fake_services.store.consultations[-1].channel == "web"
    )
    assert [(q.text, q.reason) for q in fake_services.store.unanswered()] == [("zzqq xx", "none")]
    events, messages = run_action(ActionAnswerQuestion(), make_tracker("zzqq xx", slots={"clarify_count": 1}))
    assert [b["title"] for b in messages[0]["buttons"]][0] == "转人工"


def test_a_long_question_nothing_fits_is_handed_over_honestly(fake_services):
    story = "我们村里去年修了一条新路，镇上的人说要收一笔钱，zzqq xx qqzz 这个是怎么回事，谁也讲不清楚"
    events, messages = run_action(ActionAnswerQuestion(), make_tracker(story))
    assert "转给工作人员" in messages[0]["text"] and "12348" in messages[0]["text"]
    assert [b["title"] for b in messages[0]["buttons"]][0] == "转人工"
    assert slot_events(events)["clarify_count"] == 0


def _answered(fake_services, entry_id: str | None = None):
    entries = fake_services.retriever.index.entries
    return next(e for e in entries if (e.id == entry_id if entry_id else e.facts))


def test_a_follow_up_is_answered_from_the_last_answer(fake_services):
    entry = _answered(fake_services)
    name, value = entry.facts[0]
    asked = {"materials": "那需要什么材料", "where": "那去哪里办", "cost": "要多少钱", "time_limit": "多久能办好"}[name]
    events, messages = run_action(
        ActionAnswerFollowup(), make_tracker(asked, "ask_followup", {"last_faq_id": entry.id})
    )
    assert value in messages[0]["text"] and entry.question in messages[0]["text"]
    assert "受理编号" not in messages[0]["text"]
    assert fake_services.store.consultations[-1].kind == "follow_up"


def test_a_follow_up_without_an_answer_before_is_a_question(fake_services):
    events, messages = run_action(ActionAnswerFollowup(), make_tracker("zzqq xx", "ask_followup"))
    assert "具体" in messages[0]["text"]


def test_a_question_taken_for_an_option_is_answered(fake_services):
    events, messages = run_action(
        ActionChooseOption(), make_tracker("民法典第一千零七十九条", "choose_option", {"option": "1"})
    )
    assert "第1079条" in messages[0]["text"]


def test_choose_option_answers_the_offered_entry(fake_services, knowledge):
    ids = [e.id for e in knowledge.entries[:3]]
    events, messages = run_action(
        ActionChooseOption(), make_tracker("2", "choose_option", {"offered_faq_ids": ids, "option": "2"})
    )
    assert slot_events(events)["last_faq_id"] == ids[1]
    assert knowledge.entries[1].answer[:15] in messages[0]["text"]


def test_legal_basis_quotes_the_articles(fake_services, knowledge):
    entry = knowledge.entries[0]
    _, messages = run_action(
        ActionShowLegalBasis(), make_tracker("法律依据", "ask_legal_basis", {"last_faq_id": entry.id})
    )
    first = entry.citations[0]
    assert fake_services.laws.article(first.law, first.article).text[:20] in messages[0]["text"]


def test_an_error_becomes_a_polite_reply(fake_services, monkeypatch):
    def broken(_query):
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(fake_services.retriever, "answer", broken)
    events, messages = run_action(ActionAnswerQuestion(), make_tracker("欠薪"))
    assert events == [] and messages[0]["response"] == "utter_error"


def test_legal_aid_validation(fake_services):
    form = ValidateLegalAidForm()
    assert form.validate_la_matter("1", None, None, {}) == {"la_matter": "wages"}
    tracker = make_tracker("我住花石镇")
    from rasa_sdk.executor import CollectingDispatcher

    d = CollectingDispatcher()
    assert form.validate_la_phone("电话 139 0732 1234", d, tracker, {}) == {"la_phone": "13907321234"}
    assert form.validate_la_phone("不告诉你", d, tracker, {}) == {"la_phone": None}
    assert d.messages[-1]["response"] == "utter_invalid_phone"
    assert form.validate_la_town("花石", d, tracker, {})["la_town"] == "花石镇"
    assert form.validate_la_town("火星", d, tracker, {}) == {"la_town": None}
    reset = form.validate_la_confirm(False, d, tracker, {})
    assert reset["la_name"] is None and "la_matter" not in reset and "la_consent" not in reset
    # a name the entity extractor cut short is taken whole from the message
    assert form.validate_la_name("周", d, make_tracker("我叫周卫东"), {}) == {"la_name": "周卫东"}
    assert form.validate_la_name("桂兰", d, make_tracker("刘桂兰"), {}) == {"la_name": "刘桂兰"}
    assert form.validate_la_name("张三", d, make_tracker("我叫张三，电话13800000000"), {}) == {"la_name": "张三"}


def test_a_no_to_the_personal_information_ends_the_form_before_any_is_asked():
    from rasa_sdk.executor import CollectingDispatcher

    for form, slot in ((ValidateLegalAidForm(), "la_consent"), (ValidateMediationForm(), "md_consent")):
        validate = getattr(form, f"validate_{slot}")
        assert validate(True, CollectingDispatcher(), make_tracker("同意", "affirm"), {}) == {slot: True}
        # requested_slot None ends the form (Rasa's FormAction.is_done); the submission then refuses
        assert validate(False, CollectingDispatcher(), make_tracker("不同意", "deny"), {}) == {
            slot: False,
            "requested_slot": None,
        }


def test_without_the_citizens_yes_nothing_is_stored_and_the_answers_are_dropped(fake_services):
    for action, slots in (
        (ActionSubmitLegalAid(), {"la_matter": "wages", "la_consent": False}),
        (ActionSubmitMediation(), {"md_dispute_type": "邻里纠纷", "md_consent": False}),
        (ActionSubmitLegalAid(), {**LA_SLOTS, "la_consent": None}),  # never asked: no yes either
    ):
        events, messages = run_action(action, make_tracker("不同意", "deny", slots))
        assert messages[0]["response"] == "utter_no_consent"
        assert slot_events(events) and all(v is None for v in slot_events(events).values())
        assert not any(e["event"] == "pause" for e in events)
    assert fake_services.store.escalations() == [] and fake_services.store.take_daily("submission", {"x": 1})


def user_event(client: str) -> dict:
    """The citizen's message as Rasa stores it, with the metadata the web gateway sends."""
    return {"event": "user", "text": "对", "metadata": {"client": client}}


def test_one_phone_number_is_capped_per_day_whatever_the_conversation(fake_services):
    for n in range(fake_services.settings.daily_submissions_per_phone):
        assert submitted_reference(f"web:c{n}")
    slots = {**LA_SLOTS, "la_phone": "13812345678"}
    events, messages = run_action(ActionSubmitLegalAid(), make_tracker("对", "affirm", slots, sender_id="tg:9"))
    assert messages[0]["response"] == "utter_submissions_capped"
    # nothing stored, no queue entry; every answer kept but the confirmation, asked again next time
    assert len(fake_services.store.escalations()) == fake_services.settings.daily_submissions_per_phone
    assert slot_events(events) == {"la_confirm": None}
    assert submitted_reference("tg:9", phone="13900000000")  # another phone may still apply


def test_one_web_address_is_capped_per_day_whatever_the_sender_ids_and_phones(fake_services):
    cap = fake_services.settings.daily_submissions_per_client
    for n in range(cap + 1):
        slots = {**LA_SLOTS, "la_phone": f"1380000{n:04d}"}
        tracker = make_tracker("对", "affirm", slots, sender_id=f"web:{n}", events=[user_event("ip:0123456789ab")])
        _, messages = run_action(ActionSubmitLegalAid(), tracker)
    assert messages[0]["response"] == "utter_submissions_capped"
    assert len(fake_services.store.escalations()) == cap
    # a forged client key is not taken: the sender's own pseudonym counts instead
    tracker = make_tracker("对", "affirm", LA_SLOTS, sender_id="web:other", events=[user_event("anything")])
    assert "受理编号" in run_action(ActionSubmitLegalAid(), tracker)[1][0]["text"]


def test_requests_for_a_person_are_capped_per_client_but_emergencies_never(fake_services):
    cap = fake_services.settings.daily_escalations_per_client
    for n in range(cap):
        events, _ = run_action(
            ActionEscalate(), make_tracker("转人工", "request_human", sender_id=f"web:{n}", events=[user_event("ip:x")])
        )
        assert events[-1]["event"] == "pause"
    events, messages = run_action(
        ActionEscalate(), make_tracker("转人工", "request_human", sender_id="web:more", events=[user_event("ip:x")])
    )
    assert messages[0]["response"] == "utter_escalations_capped" and not any(e["event"] == "pause" for e in events)
    assert len(fake_services.store.escalations()) == cap
    events, messages = run_action(
        ActionHandleEmergency(), make_tracker("救命", "emergency", sender_id="web:more", events=[user_event("ip:x")])
    )
    assert "110" in messages[0]["text"] and events[-1]["event"] == "pause"
    assert fake_services.store.escalations()[0].reason == "emergency"


def test_submit_legal_aid_stores_and_queues(fake_services):
    events, messages = run_action(ActionSubmitLegalAid(), make_tracker("对", "affirm", LA_SLOTS))
    reference = messages[0]["text"].split("受理编号：")[1].split("\n")[0]
    stored = fake_services.store.find(reference)
    assert stored.name == "张建国" and "免予核查" in stored.eligibility_note
    assert fake_services.store.escalations()[0].context["reference"] == reference
    assert all(e["value"] is None for e in events if e["event"] == "slot")
    assert events[-1]["event"] == "pause"  # a person takes the conversation from here


def test_a_database_that_is_down_keeps_the_answers_and_asks_to_submit_again(fake_services, monkeypatch):
    def unavailable(_application, escalation=None):
        raise StorageUnavailableError()

    monkeypatch.setattr(fake_services.store, "add_application", unavailable)
    events, messages = run_action(ActionSubmitLegalAid(), make_tracker("对", "affirm", LA_SLOTS))
    assert messages[0]["text"] == NOT_SAVED
    # only the confirmation is asked again; every answer stays
    assert [e for e in events if e["event"] == "slot"] == [
        {"event": "slot", "timestamp": None, "name": "la_confirm", "value": None}
    ]
    assert events[-1]["event"] == "followup" and events[-1]["name"] == "legal_aid_form"
    assert fake_services.store.escalations() == []


def test_mediation_slots_and_booking(fake_services):
    slots = {"md_dispute_type": "邻里纠纷", "md_town": "花石镇"}
    events, messages = run_action(ActionAskMdSlot(), make_tracker("", "inform", slots))
    offered = slot_events(events)["md_offered"]
    assert len(offered) == 3 and len(messages[0]["buttons"]) == 3
    form = ValidateMediationForm()
    from rasa_sdk.executor import CollectingDispatcher

    chosen = form.validate_md_slot("2", CollectingDispatcher(), make_tracker("2", slots={"md_offered": offered}), {})
    assert chosen == {"md_slot": offered[1]}
    booking = {
        **slots,
        "md_consent": True,
        "md_parties": "邻居王某",
        "md_village": "未提供",
        "md_facts": "砌墙挡路",
        "md_name": "李四",
        "md_phone": "13912345678",
        "md_slot": offered[1],
        "md_confirm": True,
    }
    for _ in range(2):  # capacity 2
        _, messages = run_action(ActionSubmitMediation(), make_tracker("对", "affirm", booking))
        # the shipped schedule is not confirmed by the bureau yet: the time is a wish, not a promise
        assert "调解预约已提交" in messages[0]["text"] and "以调解委员会电话确认的时间为准" in messages[0]["text"]
    events, messages = run_action(ActionSubmitMediation(), make_tracker("对", "affirm", booking))
    assert "约满" in messages[0]["text"] and any(
        e["event"] == "followup" and e["name"] == "mediation_form" for e in events
    )


def test_status_check(fake_services):
    _, messages = run_action(ActionSubmitLegalAid(), make_tracker("对", "affirm", LA_SLOTS))
    reference = messages[0]["text"].split("受理编号：")[1].split("\n")[0]
    _, messages = run_action(ActionCheckStatus(), make_tracker(f"查一下{reference.lower()}", "check_status"))
    assert "已受理" in messages[0]["text"]
    _, messages = run_action(ActionCheckStatus(), make_tracker("查进度", "check_status"))
    assert messages[0]["response"] == "utter_ask_reference"


def submitted_reference(sender_id: str = "web:test", phone: str = "13812345678") -> str:
    slots = {**LA_SLOTS, "la_phone": phone}
    _, messages = run_action(ActionSubmitLegalAid(), make_tracker("对", "affirm", slots, sender_id=sender_id))
    return messages[0]["text"].split("受理编号：")[1].split("\n")[0]


def test_a_status_is_not_told_to_another_conversation_that_types_the_reference(fake_services):
    reference = submitted_reference("web:citizen")
    _, messages = run_action(ActionCheckStatus(), make_tracker(reference, "check_status", sender_id="web:stranger"))
    assert "已受理" not in messages[0]["text"]
    assert "隐私" in messages[0]["text"] and "后四位" in messages[0]["text"] and reference in messages[0]["text"]
    _, messages = run_action(ActionCheckStatus(), make_tracker(reference, "check_status", sender_id="web:citizen"))
    assert "已受理" in messages[0]["text"]


def test_a_status_is_told_elsewhere_with_the_last_four_digits_of_the_phone(fake_services):
    reference = submitted_reference("web:citizen")
    for text, told in (
        (f"{reference} 5678", True),
        (f"查询进度 {reference.lower()} 13812345678", True),
        (f"{reference} 1234", False),
        (f"{reference} 35678", False),
    ):
        _, messages = run_action(ActionCheckStatus(), make_tracker(text, "check_status", sender_id="tg:42"))
        assert ("已受理" in messages[0]["text"]) is told, text


def test_the_references_own_digits_are_not_the_phones_last_four(fake_services):
    reference = submitted_reference("web:citizen", phone="13800000001")  # the day's first: ...-0001
    assert reference.endswith("0001")
    _, messages = run_action(ActionCheckStatus(), make_tracker(reference, "check_status", sender_id="tg:42"))
    assert "已受理" not in messages[0]["text"]


def test_emergency_gives_hotlines_and_top_priority(fake_services):
    events, messages = run_action(
        ActionHandleEmergency(),
        make_tracker("他拿刀要砍我", "emergency", {"la_name": "王芳"}, active_loop="legal_aid_form"),
    )
    assert "110" in messages[0]["text"] and "120" in messages[0]["text"]
    queued = fake_services.store.escalations()[0]
    assert queued.priority == 0 and queued.context == {"la_name": "王芳"}
    assert any(e["event"] == "active_loop" and e["name"] is None for e in events)


def test_out_of_scope_with_danger_words_gets_the_emergency_handling(fake_services):
    events, messages = run_action(ActionOutOfScope(), make_tracker("我爸倒在地上叫不醒", "out_of_scope"))
    assert "110" in messages[0]["text"] and "120" in messages[0]["text"]
    assert fake_services.store.escalations()[0].priority == 0
    assert events[-1]["event"] == "pause"


def test_out_of_scope_without_them_says_so(fake_services):
    events, messages = run_action(ActionOutOfScope(), make_tracker("明天天气怎么样", "out_of_scope"))
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]
    assert events == [] and fake_services.store.escalations() == []


def test_escalation_keeps_form_data(fake_services):
    events, messages = run_action(
        ActionEscalate(),
        make_tracker(
            "转人工", "request_human", {"md_town": "花石镇", "md_facts": "邻居吵架"}, active_loop="mediation_form"
        ),
    )
    assert "人工" in messages[0]["text"]
    assert fake_services.store.escalations()[0].context == {"md_town": "花石镇", "md_facts": "邻居吵架"}
    assert events[-1]["event"] == "pause"
    run_action(ActionEscalate(), make_tracker("转人工", "request_human"))  # asking again queues nothing new
    assert len(fake_services.store.escalations()) == 1


def test_cancel_asks_and_remembers_the_form(fake_services):
    events, messages = run_action(ActionRequestCancel(), make_tracker("算了", "cancel", active_loop="legal_aid_form"))
    assert messages[0]["response"] == "utter_ask_confirm_cancel"
    assert slot_events(events)["paused_form"] == "legal_aid_form"


async def test_a_failing_validator_becomes_a_polite_reply(fake_services, monkeypatch):
    from rasa_sdk.executor import CollectingDispatcher

    def broken(_text):
        raise RuntimeError("directory unavailable")

    monkeypatch.setattr(fake_services.directory, "find_town", broken)
    tracker = make_tracker(
        "花石镇",
        "inform",
        {"requested_slot": "la_town", "la_town": "花石镇"},
        active_loop="legal_aid_form",
        events=[{"event": "user", "text": "花石镇"}, {"event": "slot", "name": "la_town", "value": "花石镇"}],
    )
    dispatcher = CollectingDispatcher()
    events = await ValidateLegalAidForm().run(
        dispatcher, tracker, {"forms": {"legal_aid_form": {"required_slots": ["la_town"]}}}
    )
    assert events == [] and dispatcher.messages[-1]["response"] == "utter_error"
