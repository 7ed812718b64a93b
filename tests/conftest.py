"""Fixtures shared by the suite: a migrated database per backend and an in-process client.

Every API and database test runs twice, on SQLite and on PostgreSQL. PostgreSQL comes from
PK_TEST_POSTGRES_URL (`scripts/postgres-test-server` prints one); without it the PostgreSQL
half is skipped locally and fails in CI (CI=true), where it must always run.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import ProgrammingError

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings, get_settings
from patientkontrakt.security.audit_journal import drain, journal_folder
from patientkontrakt.security.tokens import issue_dev_token
from patientkontrakt.store import migrate
from patientkontrakt.store.database import sync_url
from patientkontrakt.store.tables import metadata, resource

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
            _drop_database(admin, name)
    finally:
        admin.dispose()


def _drop_database(admin: Engine, name: str) -> None:
    # FORCE ends the sessions on the database, but the test role may not end an autovacuum
    # worker (a superuser's process) that happens to be cleaning it up; that worker is done in
    # moments, so the drop is tried again for a few seconds.
    for attempt in range(40):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except ProgrammingError as exc:
            if "pg_signal_backend" not in str(exc) or attempt == 39:
                raise
            time.sleep(0.25)


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


SYSTEM_SCOPE = "system/*.cruds"
"""The default test client's scope: an EHR integration that may do everything."""


class Tokens:
    """Development-mode bearer tokens the test app accepts (same PK_DATA_DIR)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def headers(
        self,
        scope: str,
        *,
        patient: str | None = None,
        fhir_user: str | None = None,
        client_id: str = "pytest",
        minutes: int = 10,
    ) -> dict[str, str]:
        """`Authorization: Bearer ...` for a token with these claims."""
        token = issue_dev_token(
            self.settings,
            scope=scope,
            patient=patient,
            fhir_user=fhir_user,
            client_id=client_id,
            minutes=minutes,
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    """Make tokens for patient, clinician and system callers."""
    return Tokens(settings)


@pytest.fixture
async def anonymous_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client without credentials (httpx ASGI transport); base `/fhir`."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/fhir") as c:
        yield c


@pytest.fixture
async def client(
    app: FastAPI, tokens: Tokens, database_url: str, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client with a system token allowed everything; base URL `/fhir`.

    After the test it checks the audit trail: every authenticated request to patient data that
    the client made left at least one AuditEvent with that request's id (read requests' ones
    drained from the audit journal first, as an AuditEvent search would).
    """
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    requests: list[tuple[str, str]] = []

    async def remember(response: httpx.Response) -> None:
        request_id = response.headers.get("x-request-id")
        if request_id and response.status_code != 401:
            requests.append((request_id, f"{response.request.method} {response.request.url}"))

    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://test/fhir",
        headers=tokens.headers(SYSTEM_SCOPE),
        event_hooks={"response": [remember]},
    ) as c:
        yield c
    if requests:
        await drain(
            journal_folder(settings.data_dir),
            app.state.server.store,
            base_url=settings.base_url or "",
        )
        missing = unaudited(database_url, requests)
        assert not missing, f"requests without an AuditEvent: {missing}"


def unaudited(url: str, requests: list[tuple[str, str]]) -> list[str]:
    """The requests (id, what) for which the store holds no AuditEvent."""
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        rows = conn.execute(
            select(resource.c.content).where(resource.c.resource_type == "AuditEvent")
        ).all()
    engine.dispose()
    recorded = "".join(bytes(r.content).decode() for r in rows)
    return [what for request_id, what in requests if request_id not in recorded]


@pytest.fixture
def fhir_json() -> dict[str, str]:
    """Headers for a FHIR JSON request body."""
    return {"Content-Type": "application/fhir+json"}


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment a CLI command run in-process (typer's runner) needs to use the test's
    database and data folder."""
    monkeypatch.setenv("DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("PK_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("PK_DEMO_DATA", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
