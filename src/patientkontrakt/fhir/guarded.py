"""The route class that runs a handler under the caller's RequestScope.

Authentication happens before the handler; whatever the handler read or attempted is made
durable (the guard's `finish`) before the response leaves, so no access goes unrecorded even if
the process dies right after answering.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from patientkontrakt.fhir.context import server
from patientkontrakt.fhir.guard import RequestScope
from patientkontrakt.outcomes import FhirError


class GuardedRoute(APIRoute):
    """An APIRoute whose handler needs an authenticated caller."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler, wrapped: authorize first, record accesses last."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            scope = await server(request).authorize(request)
            request.state.scope = scope
            try:
                response = await handler(request)
            except FhirError as exc:
                await scope.guard.finish(exc.status)
                raise
            except Exception:
                await scope.guard.finish(500)
                raise
            await scope.guard.finish(response.status_code)
            return response

        return guarded


def scope_of(request: Request) -> RequestScope:
    """The RequestScope a GuardedRoute set for this request."""
    scope = request.state.scope
    assert isinstance(scope, RequestScope)
    return scope
