"""The one cached factory that wires ports to adapters. Tests replace it with fakes."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from legal_triage.answering import QuestionAnswering
from legal_triage.directory import ServiceDirectory
from legal_triage.embedding import Embedder
from legal_triage.laws import StatuteLibrary
from legal_triage.retrieval import FaqRetriever
from legal_triage.settings import Settings, get_settings
from legal_triage.storage.port import CaseStore
from legal_triage.topics import TopicClassifier


@dataclass
class Services:
    settings: Settings
    laws: StatuteLibrary
    directory: ServiceDirectory
    retriever: FaqRetriever
    topics: TopicClassifier | None
    store: CaseStore

    @property
    def qa(self) -> QuestionAnswering:
        return QuestionAnswering(self.retriever, self.topics, self.laws)


_lock = threading.Lock()
_services: Services | None = None


def load_embedder(settings: Settings) -> Embedder:
    from legal_triage.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.embedding_model_path)


def build_services(settings: Settings) -> Services:
    """Build the real services: model, indexes and database from the settings."""
    from legal_triage.storage.sql import SqlCaseStore, make_engine

    embedder = load_embedder(settings)
    topics = None
    if (settings.topic_model_dir / "manifest.json").exists():
        topics = TopicClassifier.load(settings.topic_model_dir, embedder)
    return Services(
        settings=settings,
        laws=StatuteLibrary.load(settings.laws_dir),
        directory=ServiceDirectory.load(settings.knowledge_base_dir),
        retriever=FaqRetriever(settings.faq_index_dir, embedder),
        topics=topics,
        store=SqlCaseStore(make_engine(settings.sqlalchemy_url)),
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
