"""Shared pieces of the fuzz suites (``tests/unit/*/test_fuzz_*.py``): Hypothesis settings, input strategies,
and the checks every answer must pass (a clear status, no trace, nothing echoed unescaped).

Runs are reproducible: ``derandomize=True`` draws the same examples on every run and machine, and
``database=None`` keeps no ``.hypothesis`` example database between runs (a failure prints its
``@example`` to paste as a regression case instead).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from markupsafe import escape

from bot.rasa_client import MAX_MESSAGE_CHARS
from tests.fakes.rasa import FakeRasa

#: Every fuzz test uses these; each sets its own ``max_examples`` to keep the suite under a minute.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],  # no slow "explain"
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def mostly(usual, unusual, odds: int = 3):
    """``usual`` about ``odds`` times for one ``unusual`` (``a | b`` flattens nested choices, so a plain
    union gives a single value as much weight as each kind of garbage)."""
    return st.integers(0, odds).flatmap(lambda i: unusual if i == 0 else usual)


# ---- text ----------------------------------------------------------------------------------------
CONTROL = st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp", "Zs"])
EMOJI = st.sampled_from(["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇨🇳", "❤️", "🧑🏿‍⚖️", "\U0001fae0", "⚖️", "🔥" * 3])
SCRIPTS = st.sampled_from(
    [
        "老板拖欠工资怎么办",
        "離婚後孩子歸誰",
        "Hello, I need a lawyer",
        "Здравствуйте",
        "مرحبا بكم",
        "שלום",
        "नमस्ते",
        "안녕하세요",
        "こんにちは",
        "ཀ་ཁ་ག",
        "ئۇيغۇرچە",
        "\u202eevil\u202c",
        "e\u0301\u0301\u0301",
        "𠀀𪚥",
        "ＦＵＬＬ　ＷＩＤＴＨ",
        "1234567890１２３",
        "١٢٣",
    ]
)
HTML_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "</textarea><script>alert('x')</script>",
    "<!--",
    "]]><x>",
    "&amp;&lt;&#x3c;",
    "{{ 7*7 }}",
    "{% raw %}",
    "${7*7}",
    "<iframe src=//evil.example>",
    '<a href="javascript:alert(1)">点我</a>',
]
HTML = st.sampled_from(HTML_PAYLOADS)
SQL = st.sampled_from(
    [
        "' OR '1'='1",
        "'; DROP TABLE staff_users; --",
        '" OR 1=1 --',
        "admin'--",
        "1; SELECT pg_sleep(5)",
        "%' UNION SELECT username, password_hash FROM staff_users --",
        "\\'",
        "1 OR 1=1",
        "%",
        "_",
        "' OR ''='",
        "'); DELETE FROM escalations; --",
    ]
)
PAYLOAD = st.one_of(HTML, SQL)
#: Big inputs from a few fixed sizes (around the limits and far beyond), cheap to generate.
HUGE = st.builds(
    lambda n, c: c * n,
    st.sampled_from([MAX_MESSAGE_CHARS, MAX_MESSAGE_CHARS + 1, 10_000, 100_000]),
    st.sampled_from(["长", "a", " ", "\x00", "😀", "<script>"]),
)
PIECE = st.one_of(st.text(max_size=40), st.text(CONTROL, max_size=10), EMOJI, SCRIPTS, PAYLOAD)
#: Any text: random unicode (never lone surrogates, which JSON and UTF-8 cannot carry), control and
#: format characters, emoji, mixed scripts, HTML and SQL, glued together; sometimes huge.
TEXT = mostly(st.lists(PIECE, max_size=5).map("".join), HUGE)
#: Text that fits a form field or a message (no huge ones), for the slower pages.
SHORT_TEXT = st.lists(PIECE, max_size=4).map("".join)

# ---- JSON and bodies -------------------------------------------------------------------------------
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    JSON_SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)
MALFORMED_JSON = st.sampled_from(
    [
        b"",
        b"{",
        b"}",
        b"[",
        b"{not json",
        b'{"message": "\xff\xfe"}',
        b'{"message": "\\ud800"}',
        b"null",
        b'{"message": NaN}',
        b'{"message": 1e999}',
        b"\x00\x01\x02",
        b'{"a":' * 200,
        b"[" * 5000,
        b'{"message": "a"} trailing',
        '{"message": "你好"}'.encode("gb18030"),
        b"\xef\xbb\xbf{}",
    ]
)
RAW_BODY = st.one_of(st.binary(max_size=300), MALFORMED_JSON, TEXT.map(lambda t: t.encode("utf-8")))
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=gb2312",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "application/xml",
        "text/html",
        "application/octet-stream",
        "",
        "application/json; charset=utf-16",
        "*/*",
        "\u00e9/\u00e9; q=\u00ff",
    ]
).map(lambda value: value.encode("latin-1"))  # as bytes: a client may send any octets
#: Long text that still fits in a URL (servers refuse request lines of more than some kilobytes).
LONG_FOR_URL = st.builds(
    lambda n, c: c * n, st.sampled_from([MAX_MESSAGE_CHARS + 1, 5000]), st.sampled_from(["长", "a", "<"])
)
#: Query or form values: any text (URL-encoded by the client).
PARAM = st.one_of(
    SHORT_TEXT,
    LONG_FOR_URL,
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(["", "0", "-1", "1e3", "0x10", "²", "² ", "٣", "NaN", "2147483648", "9223372036854775808"]),
)
#: Header values (what an HTTP client can send: no line breaks).
HEADER = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80)


def fits_in_url(params: dict) -> bool:
    """What an HTTP client (and server) takes in a URL (httpx refuses more than 64 KiB)."""
    return len(urlencode(params)) < 60_000


# ---- checks -----------------------------------------------------------------------------------------
_TRACE = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]*\", line \d+|\b(?:sqlalchemy|pydantic|starlette|fastapi)\.|"
    r"\b(?:Key|Value|Type|Attribute|Index|Overflow|Integrity|Operational|Programming|Data|Unicode\w*|Validation|"
    r"Runtime|Assertion|Name|ZeroDivision|NotImplemented|Lookup|Recursion|Parse|Expat)Error\b|\bException\b|"
    r"validation errors? for\b"
)
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def no_trace(response, sent: str = "") -> None:
    """The response is not a server error and shows no trace (text the client sent itself is ignored)."""
    assert response.status_code < 500 or response.status_code == 503, (response.status_code, response.text[:500])
    body = response.text.replace(sent, "") if sent else response.text
    found = _TRACE.search(body)
    assert found is None, f"trace-like text {found.group(0)!r} in {body[:500]!r}"


def json_error(response) -> str:
    """A JSON error body with a Chinese message; returns the message."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    message = response.json()["error"]
    assert isinstance(message, str) and CHINESE.search(message), message
    return message


def escaped_in(payload: str, html: str) -> None:
    """Text with markup, shown back in a page, is there escaped and never as live markup."""
    assert str(escape(payload)) in html, f"{str(escape(payload))[:200]!r} not in the page"
    for tag in ("<script>", "<img", "<svg", "<iframe"):
        if tag in payload:
            assert tag not in html.replace('<script src="', ""), f"raw {tag} in the page"


def dumps(value) -> bytes:
    """JSON as a browser sends it (UTF-8, no ASCII escapes)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


# ---- fakes ------------------------------------------------------------------------------------------
class FuzzRasa(FakeRasa):
    """The web tests' Rasa twin, plus what the history page and closing a conversation use."""

    def __init__(self) -> None:
        super().__init__()
        self.transcripts: list[str] = []

    async def transcript(self, sender_id: str) -> list[dict]:
        self.transcripts.append(sender_id)
        return [{"author": "bot", "text": "您好", "buttons": [], "at": 1.0}]

    async def resume(self, sender_id: str) -> None:
        pass
