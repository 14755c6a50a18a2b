"""The one cached factory that wires ports to adapters. Tests replace it with fakes."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from legal_triage.answering import QuestionAnswering
from legal_triage.directory import ServiceDirectory
from legal_triage.embedding import Embedder
from legal_triage.laws import StatuteLibrary
from legal_triage.retrieval import FaqRetriever
from legal_triage.settings import Settings, get_settings
from legal_triage.storage.port import CaseStore
from legal_triage.statutes import StatuteIndex, StatuteSearch, is_current
from legal_triage.topics import TopicClassifier

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


_lock = threading.Lock()
_services: Services | None = None


def load_embedder(settings: Settings) -> Embedder:
    from legal_triage.embedding import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.embedding_model_path)


def ensure_statute_index(settings: Settings, library: StatuteLibrary, embedder: Embedder,
                         force: bool = False) -> tuple[StatuteIndex, bool]:
    """Load the statute index, building it first when missing or stale; returns (index, built)."""
    folder = settings.statute_index_dir
    if not force and is_current(folder, library, embedder.name):
        return StatuteIndex.load(folder, library, embedder.name), False
    index = StatuteIndex.build(library, embedder)
    index.save(folder)
    return index, True


def load_statute_search(settings: Settings, embedder: Embedder, use_faq: bool = True) -> StatuteSearch:
    library = StatuteLibrary.load(settings.laws_dir)
    index, built = ensure_statute_index(settings, library, embedder)
    if built:
        logger.info("statute index was missing or stale and has been rebuilt")
    faq = FaqRetriever(settings.faq_index_dir, embedder) if use_faq else None
    return StatuteSearch(index, embedder, faq)


def build_services(settings: Settings) -> Services:
    """Build the real services: model, indexes and database from the settings."""
    import faiss
    import torch

    from legal_triage.storage.sql import SqlCaseStore, make_engine

    # Serving embeds and searches one short question at a time, beside Rasa on the same cores (batch
    # builds keep the libraries' default threads).
    torch.set_num_threads(max(1, settings.serving_threads))
    faiss.omp_set_num_threads(max(1, settings.serving_threads))
    embedder = load_embedder(settings)
    topics = None
    if (settings.topic_model_dir / "manifest.json").exists():
        topics = TopicClassifier.load(settings.topic_model_dir, embedder)
    laws = StatuteLibrary.load(settings.laws_dir)
    retriever = FaqRetriever(settings.faq_index_dir, embedder)
    statute_index, _ = ensure_statute_index(settings, laws, embedder)
    return Services(
        settings=settings,
        laws=laws,
        directory=ServiceDirectory.load(settings.knowledge_base_dir),
        retriever=retriever,
        topics=topics,
        store=SqlCaseStore(make_engine(settings.sqlalchemy_url)),
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
