"""create_app(): the FastAPI application assembled from its parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from patientkontrakt import __version__
from patientkontrakt.config import Settings, get_settings
from patientkontrakt.fhir import errors
from patientkontrakt.fhir.context import ServerContext
from patientkontrakt.fhir.guard import UNRESTRICTED, RequestScope
from patientkontrakt.fhir.paging import PageSigner, load_secret
from patientkontrakt.fhir.routes import open_router, router
from patientkontrakt.fhir.timing import ServerTimingMiddleware
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.transactions import Store


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service as an ASGI app; the database must already be migrated."""
    settings = settings or get_settings()
    store = Store(create_engine(settings.resolved_database_url()))
    signer = PageSigner(
        load_secret(settings.paging_secret, settings.data_dir), settings.page_link_ttl_seconds
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
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

    async def authorize(_request: Request) -> RequestScope:
        return UNRESTRICTED

    app.state.server = ServerContext(
        store=store, settings=settings, signer=signer, authorize=authorize
    )
    errors.install(app)
    app.add_middleware(ServerTimingMiddleware)
    app.include_router(open_router)
    app.include_router(router)
    return app
