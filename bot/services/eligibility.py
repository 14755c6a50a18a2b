"""Legal-aid pre-check under 《法律援助法》: which matters qualify and whether means are tested.

This is a pre-check to set expectations; the legal-aid centre decides (第四十三条).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.wording import (
    NOTE_EXEMPT_GROUP,
    NOTE_EXEMPT_MIGRANT,
    NOTE_MEANS_TESTED,
    NOTE_NOT_MEANS_TESTED,
    NOTE_OUT_OF_SCOPE,
)


@dataclass(frozen=True)
class Matter:
    key: str
    label: str  # citizen-facing
    basis: str  # the article that covers it
    means_tested: bool
    in_scope: bool = True


MATTERS: tuple[Matter, ...] = (
    Matter("wages", "讨要工资、确认劳动关系", "《法律援助法》第三十一条第（五）项", True),
    Matter("injury", "工伤、交通事故、医疗事故等人身损害赔偿", "《法律援助法》第三十一条第（七）项", True),
    Matter("support", "赡养费、抚养费、扶养费", "《法律援助法》第三十一条第（四）项", True),
    Matter("social", "社会保险待遇、社会救助、抚恤金", "《法律援助法》第三十一条第（二）（三）项", True),
    Matter("violence", "家庭暴力、虐待、遗弃的受害人维权", "《法律援助法》第三十二条第（四）项", False),
    Matter("heroic", "见义勇为相关民事权益", "《法律援助法》第三十二条第（二）项", False),
    Matter("criminal", "刑事案件（本人或近亲属被追诉）需要辩护", "《法律援助法》第二十四条", True),
    Matter("compensation", "国家赔偿", "《法律援助法》第三十一条第（一）项", True),
    Matter("other", "其他事项", "", True, in_scope=False),
)

#: Words that point to a matter when the citizen types instead of tapping a button.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    "wages": ("工资", "工钱", "欠薪", "劳动关系", "劳动报酬", "辞退", "加班"),
    "injury": ("工伤", "车祸", "交通事故", "撞", "医疗事故", "受伤", "人身损害"),
    "support": ("赡养", "抚养", "扶养", "生活费", "养老"),
    "social": ("社保", "低保", "救助", "抚恤", "养老金", "保险待遇"),
    "violence": ("家暴", "家庭暴力", "打我", "虐待", "遗弃"),
    "heroic": ("见义勇为",),
    "criminal": ("刑事", "抓", "拘留", "逮捕", "判刑", "辩护", "坐牢", "被告"),
    "compensation": ("国家赔偿", "冤"),
}

#: Situations that exempt the applicant from the means check (第四十二条).
EXEMPTION_WORDS: tuple[str, ...] = ("低保", "特困", "五保", "优抚", "残疾", "孤儿", "司法救助", "社会救助")


def matter_from_text(text: str) -> Matter | None:
    """A matter from a button value (its key or number), its label, or keywords."""
    text = text.strip()
    for i, m in enumerate(MATTERS, start=1):
        if text in (m.key, str(i), m.label):
            return m
    for m in MATTERS:
        if any(word in text for word in _KEYWORDS.get(m.key, ())):
            return m
    return None


def assess(matter: Matter, economic_status: str | None = None) -> str:
    """A short, citizen-facing eligibility note for the application record and read-back."""
    if not matter.in_scope:
        return NOTE_OUT_OF_SCOPE
    if not matter.means_tested:
        return NOTE_NOT_MEANS_TESTED.format(basis=matter.basis)
    if economic_status and any(w in economic_status for w in EXEMPTION_WORDS):
        return NOTE_EXEMPT_GROUP.format(basis=matter.basis)
    if (
        matter.key in ("wages", "injury")
        and economic_status
        and ("务工" in economic_status or "农民工" in economic_status)
    ):
        return NOTE_EXEMPT_MIGRANT.format(basis=matter.basis)
    return NOTE_MEANS_TESTED.format(basis=matter.basis)
