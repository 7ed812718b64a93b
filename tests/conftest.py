"""Fixtures shared by the suite: a migrated database per backend and an in-process client.

Every API and database test runs twice, on SQLite and on PostgreSQL. PostgreSQL comes from
PK_TEST_POSTGRES_URL (`scripts/postgres-test-server` prints one); without it the PostgreSQL
half is skipped locally and fails in CI (CI=true), where it must always run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from patientkontrakt.store import migrate
from patientkontrakt.store.database import sync_url
from patientkontrakt.store.tables import metadata

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (modules with `pytestmark = pytest.mark.anyio`) run on asyncio."""
    return "asyncio"


def postgres_url() -> str:
    """The PostgreSQL test URL; skips locally, fails in CI, when there is none."""
    url = os.environ.get("PK_TEST_POSTGRES_URL")
    if url:
        return url
    message = "PK_TEST_POSTGRES_URL is not set (run scripts/postgres-test-server)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {message}")
    pytest.skip(message)


@contextmanager
def throwaway_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards.

    Each pytest session (and each migration test) gets its own, so sessions running at the same
    time never wipe or migrate each other's tables.
    """
    server_url = sync_url(postgres_url())
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database migrated to head, once per backend per session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
        migrate.upgrade(url)
        yield url
        return
    with throwaway_postgres_database("pk_test") as url:
        migrate.upgrade(url)
        yield url


def clear_tables(url: str) -> None:
    """Empty every table, so each test starts from an empty store."""
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(table.delete())
    engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for one test against the backend's database, emptied first."""
    clear_tables(database_url)
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        paging_secret="test-paging-secret",
        base_url="http://test/fhir",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app, its engine disposed after the test."""
    application = create_app(settings)
    yield application
    await application.state.server.store.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client for the app (httpx ASGI transport); base URL `/fhir`."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/fhir") as c:
        yield c


@pytest.fixture
def fhir_json() -> dict[str, str]:
    """Headers for a FHIR JSON request body."""
    return {"Content-Type": "application/fhir+json"}
