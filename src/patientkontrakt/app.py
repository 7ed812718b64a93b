"""create_app(): the FastAPI application assembled from its parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from patientkontrakt import __version__, canonical, heap
from patientkontrakt.config import Settings, get_settings
from patientkontrakt.contract import routes as contract_routes
from patientkontrakt.contract.rules import contract_rules
from patientkontrakt.contract.vocabulary import Canonicals
from patientkontrakt.fhir import conformance, errors, operations
from patientkontrakt.fhir.context import ServerContext
from patientkontrakt.fhir.paging import PageSigner, load_secret
from patientkontrakt.fhir.routes import open_router, router
from patientkontrakt.fhir.timing import ServerTimingMiddleware
from patientkontrakt.security import hardening
from patientkontrakt.security import routes as security_routes
from patientkontrakt.security.audit_journal import journal_folder, move_leftovers
from patientkontrakt.security.authorize import Authorizer
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.transactions import Store


def create_app(settings: Settings | None = None, *, settle_heap: bool = False) -> FastAPI:
    """The service as an ASGI app; the database must already be migrated.

    `settle_heap` freezes the worker's heap once it has started (`heap.settle`): for a process
    that only serves, not for tests that make many apps in one process.
    """
    settings = settings or get_settings()
    store = Store(
        create_engine(
            settings.resolved_database_url(),
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
        )
    )
    signer = PageSigner(
        load_secret(settings.paging_secret, settings.data_dir), settings.page_link_ttl_seconds
    )

    canonical.configure(settings.canonical_base)

    authorizer = Authorizer(settings, store, contract_rules(Canonicals(settings.canonical_base)))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await conformance.seed(store, settings.canonical_base)
        if settle_heap:
            heap.settle()
        journal = authorizer.journal
        if journal is not None:
            journal.start()  # moves the audit journal into the store; also dead workers' files
        else:
            folder = journal_folder(settings.data_dir)
            await move_leftovers(folder, store, base_url=settings.base_url or "")
        yield
        if journal is not None:
            await journal.stop()
        await store.dispose()

    app = FastAPI(
        title="patientkontrakt",
        version=__version__,
        description=(
            "FHIR R4 service for Swedish patient contracts (patientkontrakt): sammanhållen "
            "planering, fast vårdkontakt, överenskommen tid. Speaks application/fhir+json."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    app.state.authenticator = authorizer.authenticator
    app.state.server = ServerContext(
        store=store, settings=settings, signer=signer, authorize=authorizer
    )
    errors.install(app)
    app.add_middleware(ServerTimingMiddleware)
    hardening.install(app, settings)  # outside timing: headers, CORS, limits
    app.include_router(security_routes.health_router)  # open: /healthz
    app.include_router(security_routes.router)  # open: SMART discovery, before `/{type}/{id}`
    app.include_router(open_router)
    app.include_router(operations.router)  # before the generic router: `/{type}/$validate`
    app.include_router(contract_routes.router)  # before the generic router: `Patient/$...`
    app.include_router(router)
    return app


def create_served_app() -> FastAPI:
    """The app as `patientkontrakt serve` runs it in each worker: settings from the
    environment, heap frozen after start-up."""
    return create_app(settle_heap=True)
