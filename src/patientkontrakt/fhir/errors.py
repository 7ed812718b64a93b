"""The one place where errors become OperationOutcome responses."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from patientkontrakt.fhir.content import FhirResponse
from patientkontrakt.outcomes import FhirError, Issue, error, operation_outcome
from patientkontrakt.security.redaction import redacted_traceback

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly"}


def outcome_response(exc: FhirError) -> Response:
    """The OperationOutcome response for `exc`."""
    return FhirResponse(orjson.dumps(exc.outcome()), status_code=exc.status, headers=exc.headers)


async def _fhir_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return outcome_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"No FHIR endpoint at {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    fhir_error = error(exc.status_code, _HTTP_CODES.get(exc.status_code, "processing"), message)
    fhir_error.headers.update(exc.headers or {})
    return outcome_response(fhir_error)


async def _request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        Issue("invalid", f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}")
        for e in exc.errors()
    ]
    return outcome_response(FhirError(400, issues))


def internal_error_response(exc: BaseException) -> Response:
    """The `500` OperationOutcome for an unexpected `exc`, which is logged with its type and
    traceback but not its message, and never with the request's query, body or headers: any of
    them may carry personal data (a database error quotes its statement, a ValueError a value)."""
    log.error("internal error: %s\n%s", type(exc).__name__, redacted_traceback(exc))
    body = operation_outcome(
        [Issue("exception", "Internal server error; the request was not completed", "fatal")]
    )
    return FhirResponse(orjson.dumps(body), status_code=500)


async def _unexpected_error(_request: Request, exc: Exception) -> Response:
    return internal_error_response(exc)


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(FhirError, _fhir_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
