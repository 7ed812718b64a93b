"""The route class that runs a handler under the caller's RequestScope.

Authentication happens before the handler; each request gets an id (`X-Request-ID`, also in
its AuditEvents); whatever the handler read or attempted is made
durable (the guard's `finish`) before the response leaves, so no access goes unrecorded even if
the process dies right after answering.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from patientkontrakt.fhir.content import check_acceptable
from patientkontrakt.fhir.context import server
from patientkontrakt.fhir.guard import RequestScope
from patientkontrakt.outcomes import FhirError

REQUEST_ID_HEADER = "X-Request-ID"
"""Names the request in the response and in its AuditEvents, so an answer can be traced to
the log review."""


class GuardedRoute(APIRoute):
    """An APIRoute whose handler needs an authenticated caller."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, wrapped: authorize first, record accesses last."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            request_id = uuid.uuid4().hex
            request.state.request_id = request_id
            try:
                scope = await server(request).authorize(request)
            except FhirError as exc:
                exc.headers[REQUEST_ID_HEADER] = request_id
                raise
            request.state.scope = scope
            try:
                response = await handler(request)
            except FhirError as exc:
                await scope.guard.finish(exc.status)
                exc.headers[REQUEST_ID_HEADER] = request_id
                raise
            except Exception:
                await scope.guard.finish(500)
                raise
            await scope.guard.finish(response.status_code)
            response.headers[REQUEST_ID_HEADER] = request_id
            return response

        return guarded


def scope_of(request: Request) -> RequestScope:
    """The RequestScope a GuardedRoute set for this request."""
    scope = request.state.scope
    assert isinstance(scope, RequestScope)
    return scope


def guarded_router() -> APIRouter:
    """A router under `/fhir` whose routes need an authenticated caller (GuardedRoute) and
    negotiate FHIR content types."""
    return APIRouter(
        prefix="/fhir", dependencies=[Depends(check_acceptable)], route_class=GuardedRoute
    )
