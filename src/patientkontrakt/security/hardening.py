"""HTTP hardening: security headers, CORS for the configured portal origins, the request-target
limit and an error boundary, as pure ASGI middleware. `install` adds them to the app.

Order, outermost first: security headers → CORS → limits and error boundary → the app. So every
response, CORS preflights, `414` and `500` ones included, carries the security headers, and every
response a portal may read (errors too) carries its CORS headers.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patientkontrakt.config import Settings
from patientkontrakt.fhir import errors
from patientkontrakt.outcomes import error
from patientkontrakt.security import redaction

# Sent on every response unless the response already has the header (routes win).
# Cache-Control: health data must not sit in shared or browser caches; ETag and Last-Modified
# stay, so a client can still make conditional requests. Cross-Origin-Resource-Policy only
# governs no-cors loads (<img>, <script>); CORS fetches from a portal are not affected.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)
HSTS_HEADER = (b"strict-transport-security", b"max-age=31536000")

CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "If-Match",
    "If-None-Match",
    "If-None-Exist",
    "If-Modified-Since",
    "Prefer",
    "X-Provenance",
    "X-Purpose-Of-Use",
    "X-Access-Reason",
)
CORS_EXPOSED_HEADERS = ("ETag", "Location", "Last-Modified", "Content-Location")
CORS_MAX_AGE_SECONDS = 600


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS, and Strict-Transport-Security for https requests (or for all
    requests when `hsts_always`), to each HTTP response that lacks them."""

    def __init__(self, app: ASGIApp, *, hsts_always: bool = False) -> None:
        self.app = app
        self.plain = SECURITY_HEADERS
        self.secure = (*SECURITY_HEADERS, HSTS_HEADER)
        self.hsts_always = hsts_always

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.secure if self.hsts_always or scope.get("scheme") == "https" else self.plain

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in extra if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestLimitsMiddleware:
    """Refuses a request target longer than `max_url_bytes` with `414`, and turns an exception
    that escapes the app before its response started into the `500` OperationOutcome.

    The error boundary sits here, inside CORS and the security headers, rather than only in
    Starlette's outermost ServerErrorMiddleware: so a `500` carries those headers, and the
    exception is logged once, by `errors.internal_error_response`, without its message.
    """

    def __init__(self, app: ASGIApp, *, max_url_bytes: int) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        if len(path) + (len(query) + 1 if query else 0) > self.max_url_bytes:  # path?query
            too_long = error(
                414,
                "too-long",
                f"The request URL is longer than the limit of {self.max_url_bytes} bytes",
            )
            await errors.outcome_response(too_long)(scope, receive, send)
            return

        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as exc:
            if started:
                raise  # too late for a response; the server logs it (redacted) and closes
            await errors.internal_error_response(exc)(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the hardening middleware to `app` (call after any middleware that should run inside
    it) and the log redaction filters to uvicorn's loggers."""
    app.add_middleware(RequestLimitsMiddleware, max_url_bytes=settings.max_url_bytes)
    if settings.cors_origins:
        # No credentials: portals send bearer tokens in Authorization, never cookies.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            allow_credentials=False,
            max_age=CORS_MAX_AGE_SECONDS,
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts_always=settings.hsts)
    redaction.install()
