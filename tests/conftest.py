"""Shared fixtures: fast fakes for every port, and switches for the real-component suites."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest

from bot.composition import Services, set_services
from bot.knowledge import kb
from bot.knowledge.directory import ServiceDirectory
from bot.knowledge.laws import StatuteLibrary
from bot.retrieval.embedding import HashingEmbedder
from bot.retrieval.faq import FaqIndex, FaqRetriever
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.memory import InMemoryCaseStore

KB_DIR = PROJECT_ROOT / "knowledge_base"


@pytest.fixture(scope="session")
def library() -> StatuteLibrary:
    return StatuteLibrary.load(KB_DIR / "laws")


@pytest.fixture(scope="session")
def knowledge(library) -> kb.KnowledgeBase:
    return kb.load(KB_DIR / "faq", library)


@pytest.fixture(scope="session")
def directory() -> ServiceDirectory:
    return ServiceDirectory.load(KB_DIR)


@pytest.fixture(scope="session")
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="session")
def fake_index_root(tmp_path_factory, knowledge, fake_embedder) -> Path:
    root = tmp_path_factory.mktemp("faq_index")
    FaqIndex.build(knowledge, fake_embedder).save(root)
    return root


@pytest.fixture
def fake_services(fake_index_root, fake_embedder, library, directory, tmp_path):
    """Services wired to in-memory fakes; installed for the actions under test."""
    services = Services(
        settings=Settings(data_dir=tmp_path),
        laws=library,
        directory=directory,
        retriever=FaqRetriever(fake_index_root, fake_embedder),
        topics=None,
        store=InMemoryCaseStore(),
    )
    set_services(services)
    yield services
    set_services(None)


def require_service(url_env: str) -> str:
    """The URL of a required external service; skip only when told services are absent."""
    url = os.environ.get(url_env)
    if not url:
        if os.environ.get("LEGAL_TRIAGE_SKIP_SERVICES") == "1":
            pytest.skip(f"{url_env} not set and LEGAL_TRIAGE_SKIP_SERVICES=1")
        pytest.fail(
            f"{url_env} is not set: the PostgreSQL tests are required (set LEGAL_TRIAGE_SKIP_SERVICES=1 "
            "only on machines without the service)"
        )
    return url


@pytest.fixture(scope="session")
def real_statute_search():
    """Statute search over the index built by `make setup`, with the real model and FAQ index."""
    from bot.composition import load_embedder, load_statute_search
    from bot.settings import get_settings

    settings = get_settings()
    return load_statute_search(settings, load_embedder(settings))


@contextlib.contextmanager
def postgres_schema():
    """An engine on a fresh, migrated schema of the required PostgreSQL server; dropped afterwards."""
    from sqlalchemy import text

    from bot.storage.sql import make_engine, upgrade

    base = require_service("LEGAL_TRIAGE_TEST_POSTGRES_URL")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}"
    upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_engine(request, tmp_path_factory):
    """A migrated database for a whole test module: a SQLite file, and a PostgreSQL schema."""
    from bot.storage.sql import make_engine, upgrade

    if request.param == "postgres":
        with postgres_schema() as engine:
            yield engine
        return
    url = f"sqlite:///{tmp_path_factory.mktemp('module_db') / 'cases.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
