"""Rendering shared by the channels without buttons of ours: numbered options and splitting long texts.

The actions number the options they send ("1. 抚养权归谁", payload ``/choose_option{"option":"1"}``) so
that a typed digit picks the same one in the web chat. A channel that lists buttons as text numbers
them itself (WeChat numbers on across the messages of one turn), so it takes the title without the
action's number: one number per line, never "1. 1. 抚养权归谁".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.rasa_client import Button

_NUMBER_PREFIX = re.compile(r"^\s*\d+\s*[.、．]\s*")


def option_title(button: Button) -> str:
    """The button's title without a leading option number."""
    title = button.title or button.payload
    return _NUMBER_PREFIX.sub("", title, count=1) or title


def numbered_lines(buttons: Sequence[Button], start: int = 1) -> list[str]:
    return [f"{number}. {option_title(b)}" for number, b in enumerate(buttons, start)]


def pack(pieces: Sequence[str], separator: str, limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Join pieces with ``separator`` into as few chunks of at most ``limit`` as possible, in order."""
    chunks: list[str] = []
    current: str | None = None
    for piece in pieces:
        candidate = piece if current is None else f"{current}{separator}{piece}"
        if size(candidate) <= limit:
            current = candidate
        else:
            if current is not None:
                chunks.append(current)
            current = piece
    if current is not None:
        chunks.append(current)
    return chunks


def split_text(text: str, limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Pieces of at most ``limit`` (measured by ``size``), cut at line ends where a line fits, inside a
    line only when that line alone is too long. Blank pieces are dropped (platforms refuse them)."""
    if size(text) <= limit:
        return [text]
    segments = [segment for line in text.split("\n") for segment in _split_line(line, limit, size)]
    return [piece for piece in pack(segments, "\n", limit, size) if piece.strip()]


def _split_line(line: str, limit: int, size: Callable[[str], int]) -> list[str]:
    segments: list[str] = []
    current: list[str] = []
    used = 0
    for char in line:
        width = size(char)
        if used + width > limit and current:
            segments.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += width
    segments.append("".join(current))
    return segments


def utf16_units(text: str) -> int:
    """Telegram measures texts in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def utf8_bytes(text: str) -> int:
    """WeChat measures texts in UTF-8 bytes."""
    return len(text.encode("utf-8"))
