"""Domain values: frozen dataclasses with no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum

#: The standard taxonomy of Chinese legal consultation (order is the classifier's label order).
TOPICS: tuple[str, ...] = (
    "婚姻家庭",
    "劳动纠纷",
    "交通事故",
    "债权债务",
    "刑事辩护",
    "合同纠纷",
    "房产纠纷",
    "侵权",
    "公司法",
    "医疗纠纷",
    "拆迁安置",
    "行政诉讼",
    "建设工程",
    "知识产权",
    "综合咨询",
    "人身损害",
    "涉外法律",
    "海事海商",
    "消费权益",
    "抵押担保",
)


def article_ref(number: int, suffix: str) -> int | str:
    """An article as the FAQ, its exports and statute search write it: 1079, or "133之一"."""
    return f"{number}{suffix}" if suffix else number


def article_label(law: str, number: int, suffix: str) -> str:
    return f"《{law.removeprefix('中华人民共和国')}》第{number}条{suffix}"


@dataclass(frozen=True)
class Citation:
    """A reference to one article of one statute; ``law`` is the title as in the law data file."""

    law: str
    article: int
    quote: str | None = None
    #: "之一", "之二" … for an article inserted by amendment (刑法第一百三十三条之一); "" otherwise.
    suffix: str = ""

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.law, self.article, self.suffix)

    @property
    def ref(self) -> int | str:
        return article_ref(self.article, self.suffix)

    @property
    def label(self) -> str:
        return article_label(self.law, self.article, self.suffix)


@dataclass(frozen=True)
class FaqEntry:
    id: str
    topic: str
    question: str
    paraphrases: tuple[str, ...]
    answer: str
    citations: tuple[Citation, ...]
    reviewed_on: date
    subtopic: str | None = None
    #: Short structured facts for follow-up questions: materials, where, cost, time_limit.
    facts: tuple[tuple[str, str], ...] = ()

    def fact(self, name: str) -> str | None:
        return dict(self.facts).get(name)

    @property
    def texts(self) -> tuple[str, ...]:
        """Everything that is indexed for this entry: the question and its paraphrases."""
        return (self.question, *self.paraphrases)


@dataclass(frozen=True)
class FaqHit:
    entry: FaqEntry
    score: float
    dense: float = 0.0
    lexical: float = 0.0


class AnswerKind(str, Enum):
    CONFIDENT = "confident"
    SUGGEST = "suggest"
    NONE = "none"


@dataclass(frozen=True)
class RetrievalResult:
    kind: AnswerKind
    hits: tuple[FaqHit, ...]


@dataclass(frozen=True)
class TopicScore:
    label: str
    score: float


@dataclass(frozen=True)
class TopicPrediction:
    scores: tuple[TopicScore, ...]  # best first, all labels
    confident: bool

    @property
    def best(self) -> TopicScore:
        return self.scores[0]


@dataclass(frozen=True)
class Article:
    law: str
    number: int
    text: str
    chapter: str = ""
    suffix: str = ""

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.law, self.number, self.suffix)

    @property
    def ref(self) -> int | str:
        return article_ref(self.number, self.suffix)

    @property
    def label(self) -> str:
        return article_label(self.law, self.number, self.suffix)


@dataclass(frozen=True)
class StatuteHit:
    """One article found by statute search, with the parts of its fused score."""

    article: Article
    score: float
    dense: float = 0.0
    lexical: float = 0.0
    faq: float = 0.0


class ApplicationStatus(str, Enum):
    RECEIVED = "received"
    REVIEWING = "reviewing"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CLOSED = "closed"


class BookingStatus(str, Enum):
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    HELD = "held"
    SETTLED = "settled"
    NOT_SETTLED = "not_settled"
    CANCELLED = "cancelled"


#: The one label map for case statuses. ``STATUS_NAMES`` are the short names staff see on every
#: console page and chart; ``STATUS_LABELS`` the sentences a citizen is told (status checks, notices).
STATUS_NAMES: dict[str, str] = {
    "received": "已受理",
    "reviewing": "审查中",
    "accepted": "给予援助",
    "rejected": "不予援助",
    "closed": "已结案",
    "booked": "已预约",
    "confirmed": "已确认",
    "held": "已调解",
    "settled": "调解成功",
    "not_settled": "调解未成功",
    "cancelled": "已取消",
}
#: Staff-queue (escalation) statuses: a conversation waits for a person, is being served, or ended.
ESCALATION_STATUS_NAMES: dict[str, str] = {"waiting": "等待接待", "claimed": "接待中", "closed": "已结束"}
STATUS_LABELS: dict[str, str] = {
    "received": "已受理登记，等待审查",
    "reviewing": "审查中",
    "accepted": "已决定给予法律援助",
    "rejected": "已决定不予法律援助",
    "closed": "已结案",
    "booked": "已预约，等待调解委员会确认",
    "confirmed": "调解委员会已确认",
    "held": "已调解",
    "settled": "调解成功",
    "not_settled": "调解未成功",
    "cancelled": "已取消",
}


@dataclass(frozen=True)
class LegalAidApplication:
    sender_id: str
    name: str
    phone: str
    town: str
    village: str | None
    matter: str
    opponent: str
    facts: str
    deadline: str | None
    economic_status: str
    eligibility_note: str
    reference: str = ""
    status: ApplicationStatus = ApplicationStatus.RECEIVED
    created_at: datetime | None = None


@dataclass(frozen=True)
class MediationBooking:
    sender_id: str
    dispute_type: str
    parties: str
    town: str
    village: str | None
    facts: str
    name: str
    phone: str
    committee_id: str
    slot_start: datetime
    reference: str = ""
    status: BookingStatus = BookingStatus.BOOKED
    created_at: datetime | None = None


@dataclass(frozen=True)
class Escalation:
    sender_id: str
    reason: str  # "request", "fallback", "emergency", "intake"
    priority: int  # 0 = emergency (top), 1 = normal
    topic: str | None = None
    town: str | None = None
    context: dict = field(default_factory=dict)
    id: int | None = None
    status: str = "waiting"  # waiting → claimed → closed
    created_at: datetime | None = None
    assignee: str | None = None
    claimed_at: datetime | None = None
    closed_at: datetime | None = None
    notified_at: datetime | None = None
    overdue_notified_at: datetime | None = None

    @property
    def channel(self) -> str:
        """Where the citizen wrote from: the sender id's prefix (``tg``, ``wx``, ``web``)."""
        return self.sender_id.split(":", 1)[0] if ":" in self.sender_id else "other"


@dataclass(frozen=True)
class ConversationMessage:
    """One line of a handed-off conversation: the citizen, staff, or a system notice."""

    escalation_id: int
    author: str  # "citizen", "staff", "system", or "note" (internal, never sent)
    text: str
    staff: str | None = None
    id: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Consultation:
    """One question the bot handled, for statistics (no text; the sender only as a pseudonym)."""

    sender_hash: str
    channel: str
    kind: str  # "confident", "suggest", "none", "statute", "chosen", "follow_up"
    topic: str | None = None
    town: str | None = None
    faq_id: str | None = None
    score: float | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class UnansweredQuestion:
    """A question the bot could not answer well, kept for the publicity team to write FAQ entries."""

    channel: str
    text: str
    reason: str  # "none", "low_confidence", "fallback"
    topic: str | None = None
    id: int | None = None
    at: datetime | None = None
    resolved_faq_id: str | None = None
    sender_hash: str | None = None  # the asker's pseudonym (bot.privacy.hashed), for erasure on request


#: Case statuses after which nothing more happens: a case's retention period runs from reaching one.
FINAL_APPLICATION_STATUSES: tuple[str, ...] = (ApplicationStatus.REJECTED.value, ApplicationStatus.CLOSED.value)
FINAL_BOOKING_STATUSES: tuple[str, ...] = (
    BookingStatus.SETTLED.value,
    BookingStatus.NOT_SETTLED.value,
    BookingStatus.CANCELLED.value,
)


@dataclass(frozen=True)
class RetentionCutoffs:
    """Personal information older than these moments is past its retention period (PIPL art. 19, 47)."""

    transcripts: datetime  # closed escalations (by closed_at) and their conversation messages
    outbox: datetime  # web-chat messages queued for a citizen
    unanswered: datetime  # unanswered questions' text
    cases: datetime  # finished applications and bookings (by updated_at) and their case events
    statistics: datetime  # consultations (pseudonymous statistics)
