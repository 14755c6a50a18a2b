"""The composition root: the one place that builds adapters from the settings and wires them to use cases.

Only entry points (``bot.entrypoints``, the Rasa action server through ``actions``, the bench) call
it. The action server's services are cached here per process (``get_services``); tests install fakes
with ``set_services``, or pass fakes straight to the factories the web app and channels take
(``create_app(settings, rasa=..., handoff=..., accounts=...)``). Nothing is built at import.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import yaml

from bot.errors import StatuteIndexStale
from bot.knowledge.directory import ServiceDirectory
from bot.knowledge.laws import StatuteLibrary
from bot.rasa_client import RasaClient
from bot.retrieval.embedding import Embedder
from bot.retrieval.faq import FaqRetriever
from bot.retrieval.statutes import StatuteIndex, StatuteSearch, is_current
from bot.retrieval.topics import TopicClassifier
from bot.services.answering import QuestionAnswering
from bot.services.caps import DailyCaps
from bot.services.consultations import ConsultationLog
from bot.services.gateway import Gateway
from bot.services.handoff import Handoff, HandoffPolicy
from bot.services.outbound import Outbound, WebOutbox
from bot.settings import Settings, get_settings
from bot.storage.port import CaseStore
from bot.wording import privacy_notice

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    laws: StatuteLibrary
    directory: ServiceDirectory
    retriever: FaqRetriever
    topics: TopicClassifier | None
    store: CaseStore
    statutes: StatuteSearch | None = None

    @property
    def qa(self) -> QuestionAnswering:
        return QuestionAnswering(self.retriever, self.topics, self.laws, self.statutes)

    @property
    def consultations(self) -> ConsultationLog:
        return ConsultationLog(self.store)

    @property
    def caps(self) -> DailyCaps:
        return DailyCaps(self.store, self.settings)


_lock = threading.Lock()
_services: Services | None = None


def load_embedder(settings: Settings, threads: int = 0) -> Embedder:
    """The configured model on the configured backend (``threads``: ONNX Runtime's, 0 = one per core)."""
    from bot.retrieval.embedding import embedder_for

    return embedder_for(settings.embedding_model_path, settings.embedding_backend, threads)


def load_statute_search(settings: Settings, embedder: Embedder, use_faq: bool = True) -> StatuteSearch:
    """Statute search over the index ``legal-triage laws build`` published (a serving process never builds it)."""
    library = StatuteLibrary.load(settings.laws_dir)
    index = load_statute_index(settings, library, embedder)
    faq = FaqRetriever(settings.faq_index_dir, embedder) if use_faq else None
    return StatuteSearch(index, embedder, faq)


def load_statute_index(settings: Settings, library: StatuteLibrary, embedder: Embedder) -> StatuteIndex:
    folder = settings.statute_index_dir
    if not is_current(folder, library, embedder.name):
        raise StatuteIndexStale("the statute index is missing or stale: run `legal-triage laws build`")
    return StatuteIndex.load(folder, library, embedder.name)


def build_services(settings: Settings) -> Services:
    """Build the real services: model, indexes and database from the settings."""
    import faiss
    import torch

    # Serving embeds and searches one short question at a time, beside Rasa on the same cores (batch
    # builds keep the libraries' default threads).
    torch.set_num_threads(max(1, settings.serving_threads))
    faiss.omp_set_num_threads(max(1, settings.serving_threads))
    embedder = load_embedder(settings, threads=max(1, settings.serving_threads))
    topics = None
    if (settings.topic_model_dir / "manifest.json").exists():
        topics = TopicClassifier.load(settings.topic_model_dir, embedder)
    laws = StatuteLibrary.load(settings.laws_dir)
    retriever = FaqRetriever(settings.faq_index_dir, embedder)
    statute_index = load_statute_index(settings, laws, embedder)
    return Services(
        settings=settings,
        laws=laws,
        directory=ServiceDirectory.load(settings.knowledge_base_dir),
        retriever=retriever,
        topics=topics,
        store=build_store(settings),
        statutes=StatuteSearch(statute_index, embedder, retriever),
    )


def get_services() -> Services:
    """The process-wide services, built on first use (never at import)."""
    global _services
    with _lock:
        if _services is None:
            _services = build_services(get_settings())
        return _services


def set_services(services: Services | None) -> None:
    """Install services (tests pass fakes); ``None`` resets to lazy building."""
    global _services
    with _lock:
        _services = services


# ---- the channel side: store, outbound senders, handoff, gateway, web app -------------------------
def rasa_client(settings: Settings) -> RasaClient:
    return RasaClient(settings.rasa_url, token=settings.rasa_token)


def handoff_policy(settings: Settings) -> HandoffPolicy:
    config = yaml.safe_load((settings.knowledge_base_dir / "services.yml").read_text(encoding="utf-8")) or {}
    return HandoffPolicy.from_config(config.get("handoff"), settings.handoff_pickup_seconds)


def build_outbound(settings: Settings, store: CaseStore) -> Outbound:
    outbound = Outbound({"web": WebOutbox(store)})
    if settings.telegram_bot_token:
        from bot.channels.telegram import TelegramSender

        outbound.register("tg", TelegramSender(settings.telegram_bot_token, settings.telegram_base_url))
    if settings.wechat_app_id and settings.wechat_app_secret:
        from bot.channels.wechat import WeChatSender

        outbound.register(
            "wx", WeChatSender(settings.wechat_app_id, settings.wechat_app_secret, settings.wechat_api_base_url)
        )
    return outbound


def build_store(settings: Settings) -> CaseStore:
    from bot.storage.sql import SqlCaseStore, make_engine

    return SqlCaseStore(make_engine(settings.sqlalchemy_url))


def build_lifecycle(settings: Settings):
    """Retention and erasure over our database and Rasa's tracker store (``legal-triage data``)."""
    from bot.services.accounts import Accounts
    from bot.services.retention import DataLifecycle
    from bot.storage.rasa_tracker import RasaTracker
    from bot.storage.sql import SqlCaseStore, make_engine, upgrade

    upgrade(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    return DataLifecycle(settings, SqlCaseStore(engine), Accounts(engine), RasaTracker(settings.tracker_url))


def build_web_app(settings: Settings):
    """The real web app: web chat, WeChat webhook, staff API and console on the configured database."""
    from bot.services.accounts import Accounts
    from bot.storage.sql import make_engine
    from bot.web.app import create_app

    rasa = rasa_client(settings)
    return create_app(
        settings,
        rasa=rasa,
        handoff=build_handoff(settings, rasa=rasa),
        accounts=Accounts(make_engine(settings.sqlalchemy_url)),
        embedder_factory=lambda: load_embedder(settings),
    )


def build_handoff(settings: Settings, store: CaseStore | None = None, rasa: RasaClient | None = None) -> Handoff:
    store = store or build_store(settings)
    return Handoff(store, build_outbound(settings, store), rasa or rasa_client(settings), handoff_policy(settings))


def build_gateway(settings: Settings, handoff: Handoff | None = None) -> Gateway:
    rasa = rasa_client(settings)
    return Gateway(rasa, handoff or build_handoff(settings, rasa=rasa), notice=privacy_notice(settings))
