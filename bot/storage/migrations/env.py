"""Alembic environment: runs migrations against the URL given by ``storage.sql.upgrade``."""

from alembic import context

from bot.storage.sql import make_engine, metadata

url = context.config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("no sqlalchemy.url: run the migrations through bot.storage.sql.upgrade")
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
