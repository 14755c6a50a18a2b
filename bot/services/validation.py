"""Parsing and checking what citizens type into forms: phone numbers, names, short texts."""

from __future__ import annotations

import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}-?\d{7,8})(?!\d)")
_NAME_PREFIX = re.compile(r"^(我叫|我是|叫|姓名是?|名字是?|本人)[:：\s]*")
_NAME = re.compile(r"^[\u4e00-\u9fa5·]{2,6}$")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def parse_phone(text: str) -> str | None:
    """A mobile (11 digits) or landline number in the text, spaces and dashes ignored."""
    compact = re.sub(r"[\s\-－—]", "", text.translate(_FULLWIDTH))
    match = _PHONE.search(compact)
    if match:
        return match.group(1)
    match = _LANDLINE.search(text.translate(_FULLWIDTH).replace(" ", ""))
    return match.group(1) if match else None


def parse_name(text: str) -> str | None:
    """A Chinese personal name (2-6 characters), with "我叫…" and trailing punctuation removed."""
    candidate = _NAME_PREFIX.sub("", text.strip()).strip("。.!！~ ，,")
    return candidate if _NAME.match(candidate) else None


def clean_text(text: str, limit: int = 500) -> str | None:
    """A free-text answer, trimmed; ``None`` when empty. Long texts are cut, never rejected."""
    text = " ".join(text.split())
    return text[:limit] if text else None


def mask_phone(phone: str) -> str:
    """``138****5678``: what read-backs and logs may show."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"
