"""The legal-aid intake use case: read-back and submission of an application."""

from __future__ import annotations

from bot.domain import Escalation, LegalAidApplication
from bot.knowledge.directory import TO_FILL, ServiceDirectory
from bot.services.eligibility import assess, matter_from_text
from bot.services.validation import mask_phone
from bot.storage.port import CaseStore

NOT_GIVEN = "未提供"


def application(
    sender_id: str,
    matter: str,
    name: str,
    phone: str,
    town: str,
    village: str | None,
    opponent: str,
    facts: str,
    deadline: str | None,
    economic_status: str,
) -> LegalAidApplication:
    """An application from what the form collected, with its matter label and eligibility note."""
    found = matter_from_text(matter)
    note = assess(found, economic_status) if found else "工作人员会审核是否属于法律援助范围"
    return LegalAidApplication(
        sender_id=sender_id,
        name=name,
        phone=phone,
        town=town,
        village=village,
        matter=found.label if found else matter,
        opponent=opponent,
        facts=facts,
        deadline=deadline,
        economic_status=economic_status,
        eligibility_note=note,
    )


def read_back(application: LegalAidApplication) -> str:
    """The summary the citizen confirms before we store anything."""
    a = application
    return "\n".join(
        [
            "请核对您的法律援助申请：",
            f"事项：{a.matter}",
            f"姓名：{a.name}",
            f"电话：{mask_phone(a.phone)}",
            f"地址：{a.town}{a.village or ''}",
            f"对方：{a.opponent}",
            f"经过：{a.facts}",
            f"期限：{a.deadline or '无'}",
            f"经济情况：{a.economic_status}",
            f"初步判断：{a.eligibility_note}",
            "信息对吗？",
        ]
    )


def submit(store: CaseStore, application: LegalAidApplication) -> LegalAidApplication:
    """Store the application and queue it for staff, in one transaction."""
    return store.add_application(
        application,
        escalation=Escalation(
            sender_id=application.sender_id,
            reason="intake",
            priority=1,
            town=application.town,
            context={"kind": "legal_aid"},
        ),
    )


def confirmation_text(application: LegalAidApplication, directory: ServiceDirectory) -> str:
    centre = directory.contact("legal_aid_centre")
    where = centre.get("name", "法律援助中心")
    address = centre.get("address", TO_FILL)
    documents = "\n".join(f"{i}. {d}" for i, d in enumerate(directory.config.get("legal_aid_documents", []), 1))
    place = (
        f"{where}（地址：{address}）"
        if address != TO_FILL
        else f"{where}或您所在乡镇的{directory.town_office(application.town)}（地址可拨打12348咨询）"
    )
    return (
        f"已提交！受理编号：{application.reference}\n"
        f"法律援助机构会在收到申请后7日内审查并作出决定（《法律援助法》第四十三条），工作人员会打电话或在这里联系您。\n"
        f"请带好以下材料到{place}：\n{documents}\n"
        f"查询进度时发送受理编号即可。"
    )
