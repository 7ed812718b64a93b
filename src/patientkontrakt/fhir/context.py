"""What a request handler needs from the running server, kept on `app.state`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from patientkontrakt.config import Settings
from patientkontrakt.fhir.guard import RequestScope
from patientkontrakt.fhir.listing import Paging
from patientkontrakt.fhir.paging import PageSigner
from patientkontrakt.store.transactions import Store


@dataclass(frozen=True)
class ServerContext:
    """The store, the settings, the paging signer and the authorizer of one app instance."""

    store: Store
    settings: Settings
    signer: PageSigner
    authorize: Callable[[Request], Awaitable[RequestScope]]
    """The caller's RequestScope from the request's credentials; raises 401 without them."""

    def base_url(self, request: Request) -> str:
        """The public base of the FHIR API, e.g. `http://127.0.0.1:8000/fhir`."""
        if self.settings.base_url:
            return self.settings.base_url.rstrip("/")
        return str(request.base_url).rstrip("/") + "/fhir"

    def paging(self, request: Request) -> Paging:
        """Paging settings with this request's base URL."""
        return Paging(
            base=self.base_url(request),
            signer=self.signer,
            default_count=self.settings.default_page_size,
            max_count=self.settings.max_page_size,
        )


def server(request: Request) -> ServerContext:
    """The ServerContext of the app serving `request`."""
    context = request.app.state.server
    assert isinstance(context, ServerContext)
    return context
