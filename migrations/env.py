"""Alembic environment: migrates the database named by the service's settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from patientkontrakt.config import get_settings
from patientkontrakt.store.database import ensure_sqlite_folder, sync_url
from patientkontrakt.store.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url()
target = sync_url(url)
ensure_sqlite_folder(target)

connectable = create_engine(target, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=target.get_backend_name() == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
