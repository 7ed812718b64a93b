"""Fixtures shared by the suite: a migrated database per backend and an in-process client.

Every API and database test runs twice, on SQLite and on PostgreSQL. PostgreSQL comes from
PK_TEST_POSTGRES_URL (`scripts/postgres-test-server` prints one); without it the PostgreSQL
half is skipped locally and fails in CI (CI=true), where it must always run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine

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


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated to head, once per backend per session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    else:
        url = postgres_url()
        migrate.downgrade(url, "base")
    migrate.upgrade(url)
    return url


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
