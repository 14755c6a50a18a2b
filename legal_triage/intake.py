"""The legal-aid intake use case: read-back and submission of an application."""

from __future__ import annotations

from dataclasses import dataclass

from legal_triage.directory import TO_FILL, ServiceDirectory
from legal_triage.domain import Escalation, LegalAidApplication
from legal_triage.eligibility import assess, matter_from_text
from legal_triage.storage.port import CaseStore
from legal_triage.validation import mask_phone

NOT_GIVEN = "未提供"


@dataclass(frozen=True)
class IntakeData:
    """What the form collected (slot values, already validated)."""

    matter: str
    name: str
    phone: str
    town: str
    village: str | None
    opponent: str
    facts: str
    deadline: str | None
    economic_status: str


def eligibility_note(data: IntakeData) -> str:
    matter = matter_from_text(data.matter)
    return assess(matter, data.economic_status) if matter else "工作人员会审核是否属于法律援助范围"


def read_back(data: IntakeData) -> str:
    """The summary the citizen confirms before we store anything."""
    matter = matter_from_text(data.matter)
    return "\n".join([
        "请核对您的法律援助申请：",
        f"事项：{matter.label if matter else data.matter}",
        f"姓名：{data.name}",
        f"电话：{mask_phone(data.phone)}",
        f"地址：{data.town}{data.village or ''}",
        f"对方：{data.opponent}",
        f"经过：{data.facts}",
        f"期限：{data.deadline or '无'}",
        f"经济情况：{data.economic_status}",
        f"初步判断：{eligibility_note(data)}",
        "信息对吗？",
    ])


def submit(store: CaseStore, sender_id: str, data: IntakeData) -> LegalAidApplication:
    """Store the application and queue it for staff."""
    matter = matter_from_text(data.matter)
    application = store.add_application(LegalAidApplication(
        sender_id=sender_id, name=data.name, phone=data.phone, town=data.town, village=data.village,
        matter=matter.label if matter else data.matter, opponent=data.opponent, facts=data.facts,
        deadline=data.deadline, economic_status=data.economic_status, eligibility_note=eligibility_note(data)))
    store.add_escalation(Escalation(sender_id=sender_id, reason="intake", priority=1, town=data.town,
                                    context={"reference": application.reference, "kind": "legal_aid"}))
    return application


def confirmation_text(application: LegalAidApplication, directory: ServiceDirectory) -> str:
    centre = directory.contact("legal_aid_centre")
    where = centre.get("name", "法律援助中心")
    address = centre.get("address", TO_FILL)
    documents = "\n".join(f"{i}. {d}" for i, d in enumerate(directory.config.get("legal_aid_documents", []), 1))
    place = f"{where}（地址：{address}）" if address != TO_FILL else f"{where}或您所在乡镇的{directory.town_office(application.town)}（地址可拨打12348咨询）"
    return (f"已提交！受理编号：{application.reference}\n"
            f"法律援助机构会在收到申请后7日内审查并作出决定（《法律援助法》第四十三条），工作人员会打电话联系您。\n"
            f"请带好以下材料到{place}：\n{documents}\n"
            f"查询进度时发送受理编号即可。")
