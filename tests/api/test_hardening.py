"""security/hardening.py: security headers, CORS for portal origins, the URL limit and the error
boundary. (The body and bundle-entry limits are tested in test_content.py and
test_transaction.py: `413` with an OperationOutcome.)"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from patientkontrakt.security.hardening import SecurityHeadersMiddleware
from tests.api import builders
from tests.api.builders import FHIR_JSON, PERSONNUMMER_SYSTEM, TOLVAN_PERSONNUMMER

pytestmark = pytest.mark.anyio

PORTAL = "https://portal.example.se"
OTHER_PORTAL = "https://minvard.example.se:8443"
UNLISTED = "https://evil.example.com"
SMALL_URL_LIMIT = 300
DASHED_PERSONNUMMER = f"{TOLVAN_PERSONNUMMER[:8]}-{TOLVAN_PERSONNUMMER[8:]}"  # 19121212-1212

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}
HSTS = "max-age=31536000"


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], (name, response.status_code)


def assert_no_cors(response: httpx.Response) -> None:
    assert not [name for name in response.headers if name.startswith("access-control-")]


def assert_outcome(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == code
    return dict(body)


@pytest.fixture
def app_client(settings: Settings, client: httpx.AsyncClient) -> Callable[..., Any]:
    """Clients of apps built from the test settings with `changes`; they send the same
    Authorization header as the `client` fixture."""

    @asynccontextmanager
    async def make(
        base_url: str = "http://test/fhir",
        setup: Callable[[FastAPI], None] | None = None,
        raise_app_exceptions: bool = False,
        **changes: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        application = create_app(settings.model_copy(update=changes))
        if setup is not None:
            setup(application)
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=raise_app_exceptions)
        headers = {k: v for k, v in client.headers.items() if k.lower() == "authorization"}
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url=base_url, headers=headers
            ) as c:
                yield c
        finally:
            await application.state.server.store.dispose()

    return make


# --- security headers -----------------------------------------------------------------------


async def test_every_kind_of_response_carries_the_security_headers(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    responses = [
        created,
        await client.get("/metadata"),
        await client.get(f"/Patient/{pid}"),
        await client.get("/Patient", params={"identifier": TOLVAN_PERSONNUMMER}),
        await client.get(f"/Patient/{pid}-missing"),  # 404
        await client.get("/Patient", params={"birthdate": "not-a-date"}),  # 400
        await client.post("/Patient", content=b"{", headers=FHIR_JSON),  # 400
        await client.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'}),  # 304
        await client.delete(f"/Patient/{pid}"),  # 204
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 404, 400, 400, 304, 204]
    for response in responses:
        assert_security_headers(response)
        assert "strict-transport-security" not in response.headers  # plain http


async def test_no_store_keeps_the_version_headers(client: httpx.AsyncClient) -> None:
    created = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
    read = await client.get(f"/Patient/{created.json()['id']}")
    assert read.status_code == 200
    assert read.headers["cache-control"] == "no-store"
    assert read.headers["etag"] == 'W/"1"'
    assert read.headers["last-modified"]


async def test_hsts_only_over_https(app_client: Callable[..., Any]) -> None:
    async with app_client(base_url="https://test/fhir") as https:
        response = await https.get("/metadata")
        assert response.status_code == 200
        assert response.headers["strict-transport-security"] == HSTS
        assert_security_headers(response)
    async with app_client(base_url="http://test/fhir") as http:
        assert "strict-transport-security" not in (await http.get("/metadata")).headers


async def test_hsts_setting_sends_it_over_plain_http(app_client: Callable[..., Any]) -> None:
    async with app_client(hsts=True) as http:
        response = await http.get("/metadata")
        assert response.headers.get_list("strict-transport-security") == [HSTS]


async def test_headers_a_route_set_are_kept() -> None:
    async def cacheable(_request: Request) -> JSONResponse:
        return JSONResponse(
            {}, headers={"Cache-Control": "public, max-age=60", "X-Frame-Options": "SAMEORIGIN"}
        )

    inner = Starlette(routes=[Route("/cacheable", cacheable)])
    app = SecurityHeadersMiddleware(inner)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        response = await c.get("/cacheable")
    assert response.headers.get_list("cache-control") == ["public, max-age=60"]
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["x-content-type-options"] == "nosniff"


# --- CORS -----------------------------------------------------------------------------------


async def test_no_cors_headers_without_configured_origins(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/Patient", headers={"Origin": PORTAL, "Access-Control-Request-Method": "GET"}
    )
    assert_no_cors(preflight)
    simple = await client.get("/metadata", headers={"Origin": PORTAL})
    assert simple.status_code == 200
    assert_no_cors(simple)


async def test_preflight_from_a_portal_is_allowed(app_client: Callable[..., Any]) -> None:
    async with app_client(cors_origins=[PORTAL, OTHER_PORTAL]) as c:
        response = await c.options(
            "/Patient",
            headers={
                "Origin": OTHER_PORTAL,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": (
                    "authorization, content-type, if-match, if-none-exist, prefer, "
                    "x-provenance, x-purpose-of-use, x-access-reason"
                ),
            },
        )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == OTHER_PORTAL
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "if-none-match", "if-none-exist", "x-access-reason"} <= allowed
    assert "access-control-allow-credentials" not in response.headers
    assert_security_headers(response)


@pytest.mark.parametrize(
    "origin",
    [UNLISTED, "https://portal.example.se.evil.example", "http://portal.example.se", "null"],
)
async def test_preflight_from_an_unlisted_origin_gets_no_allow_origin(
    app_client: Callable[..., Any], origin: str
) -> None:
    async with app_client(cors_origins=[PORTAL]) as c:
        response = await c.options(
            "/Patient", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
        )
        simple = await c.get("/metadata", headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_preflight_for_an_unlisted_header_or_method_is_refused(
    app_client: Callable[..., Any],
) -> None:
    async with app_client(cors_origins=[PORTAL]) as c:
        header = await c.options(
            "/Patient",
            headers={
                "Origin": PORTAL,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-something-else",
            },
        )
        method = await c.options(
            "/Patient", headers={"Origin": PORTAL, "Access-Control-Request-Method": "TRACE"}
        )
    assert header.status_code == 400
    assert method.status_code == 400


async def test_portal_responses_expose_the_version_headers(
    app_client: Callable[..., Any],
) -> None:
    async with app_client(cors_origins=[PORTAL]) as c:
        origin = {"Origin": PORTAL}
        created = await c.post("/Patient", json=builders.patient(), headers={**FHIR_JSON, **origin})
        missing = await c.get("/Patient/no-such-patient", headers=origin)
    assert created.status_code == 201, created.text
    assert created.headers["access-control-allow-origin"] == PORTAL
    exposed = {h.strip() for h in created.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"ETag", "Location", "Last-Modified", "Content-Location"}
    assert "Origin" in created.headers["vary"]
    assert "access-control-allow-credentials" not in created.headers
    # Errors too, so the portal can read the OperationOutcome.
    assert_outcome(missing, 404, "not-found")
    assert missing.headers["access-control-allow-origin"] == PORTAL


def test_cors_origins_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PK_CORS_ORIGINS", f" {PORTAL} ,HTTPS://MinVard.Example.se:8443,")
    assert Settings().cors_origins == [PORTAL, OTHER_PORTAL]
    monkeypatch.setenv("PK_CORS_ORIGINS", "")
    assert Settings().cors_origins == []
    monkeypatch.delenv("PK_CORS_ORIGINS")
    assert Settings().cors_origins == []


@pytest.mark.parametrize(
    "value",
    ["*", "https://*.example.se", f"{PORTAL}/", f"{PORTAL}/portal", "portal.example.se", "ftp://x"],
)
def test_cors_origins_must_be_exact_origins(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PK_CORS_ORIGINS", f"{PORTAL},{value}")
    with pytest.raises(ValidationError, match="PK_CORS_ORIGINS"):
        Settings()


# --- URL limit ------------------------------------------------------------------------------


async def test_url_over_the_limit_is_414(app_client: Callable[..., Any]) -> None:
    criteria = f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER}"
    base = f"/Patient?identifier={criteria}&_count=10&name="
    # The limit counts the request target as sent: /fhir/... with the percent-encoding.
    sent = len(httpx.URL(f"http://test/fhir{base}").raw_path)
    fits = base + "x" * (SMALL_URL_LIMIT - sent)
    assert len(httpx.URL(f"http://test/fhir{fits}").raw_path) == SMALL_URL_LIMIT
    async with app_client(max_url_bytes=SMALL_URL_LIMIT) as c:
        at_limit = await c.get(fits)
        over = await c.get(fits + "x")
        long_path = await c.get("/Patient/" + "a" * SMALL_URL_LIMIT)
    assert at_limit.status_code == 200, at_limit.text
    outcome = assert_outcome(over, 414, "too-long")
    assert TOLVAN_PERSONNUMMER not in over.text  # the URL is not echoed
    assert str(SMALL_URL_LIMIT) in outcome["issue"][0]["diagnostics"]
    assert_security_headers(over)
    assert_outcome(long_path, 414, "too-long")


async def test_default_url_limit_is_8192(client: httpx.AsyncClient) -> None:
    over = await client.get("/Patient", params={"name": "x" * 8192})
    assert_outcome(over, 414, "too-long")


# --- error boundary -------------------------------------------------------------------------


def add_failing_route(app: FastAPI) -> None:
    """`GET /boom` raises, its message (and its cause's) quoting a personnummer."""

    async def boom() -> None:
        try:
            raise KeyError(f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER}")
        except KeyError as exc:
            raise RuntimeError(f"no patient {DASHED_PERSONNUMMER} ({TOLVAN_PERSONNUMMER})") from exc

    app.add_api_route("/boom", boom)


async def test_unexpected_error_is_a_redacted_500_with_all_headers(
    app_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    # raise_app_exceptions: the exception must not escape the app, where the server would log it.
    async with app_client(
        base_url="http://test",
        setup=add_failing_route,
        raise_app_exceptions=True,
        cors_origins=[PORTAL],
    ) as c:
        response = await c.get("/boom", headers={"Origin": PORTAL})
    body = assert_outcome(response, 500, "exception")
    assert TOLVAN_PERSONNUMMER not in response.text
    assert body["issue"][0]["severity"] == "fatal"
    assert_security_headers(response)
    assert response.headers["access-control-allow-origin"] == PORTAL

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "internal error: RuntimeError" in logged
    assert "in boom" in logged  # the traceback frames are kept
    assert "builtins.KeyError" in logged  # and the cause's type
    assert TOLVAN_PERSONNUMMER not in logged
    assert DASHED_PERSONNUMMER not in logged
    assert TOLVAN_PERSONNUMMER not in caplog.text  # formatted, as a handler would write it
