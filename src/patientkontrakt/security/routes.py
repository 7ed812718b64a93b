"""Open routes, no token needed: SMART discovery, the development JWKS, and the health check.

`GET /fhir/.well-known/smart-configuration` follows SMART App Launch 2.0 (conformance.html).
This service is a resource server, not an authorization server: in `jwt` mode it advertises
the identity provider's endpoints the operator configures (PK_AUTH_AUTHORIZATION_ENDPOINT,
PK_AUTH_TOKEN_ENDPOINT) and derives grant types and capabilities from them; in `dev` mode there
is no token endpoint (tokens come from `patientkontrakt token`), so none is advertised.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from patientkontrakt.config import Settings
from patientkontrakt.fhir.context import server
from patientkontrakt.security.tokens import DEV_ISSUER, Authenticator

log = logging.getLogger(__name__)

router = APIRouter(prefix="/fhir", tags=["security"])
"""SMART discovery under the FHIR base; open to anyone."""
health_router = APIRouter(tags=["operations"])
"""`/healthz`, outside the FHIR base; open to anyone."""

HEALTH_TIMEOUT_SECONDS = 5.0

_RESOURCE_SCOPES = (
    "patient/*.rs",
    "user/*.cruds",
    "system/*.cruds",
    "patient/*.read",
    "user/*.read",
    "user/*.write",
    "system/*.read",
    "system/*.write",
)


def authenticator_of(request: Request) -> Authenticator:
    """The app's Authenticator (`app.state.authenticator`, the one requests are checked by)."""
    found = request.app.state.authenticator
    assert isinstance(found, Authenticator)
    return found


def smart_configuration(settings: Settings, base: str) -> dict[str, Any]:
    """The SMART configuration document for `settings`, with `base` the FHIR base URL."""
    own_jwks = f"{base}/.well-known/jwks.json"
    capabilities = ["permission-v1", "permission-v2", "permission-patient", "permission-user"]
    config: dict[str, Any]
    if settings.auth_mode == "dev":
        config = {"issuer": DEV_ISSUER, "jwks_uri": own_jwks, "grant_types_supported": []}
        scopes = list(_RESOURCE_SCOPES)
        response_types: list[str] = []
    else:
        config = {
            "issuer": settings.auth_issuer,
            "jwks_uri": settings.auth_jwks_url or own_jwks,
        }
        grant_types: list[str] = []
        scopes = list(_RESOURCE_SCOPES)
        response_types = []
        if settings.auth_authorization_endpoint:
            config["authorization_endpoint"] = settings.auth_authorization_endpoint
            grant_types.append("authorization_code")
            response_types.append("code")
            capabilities += ["launch-standalone", "context-standalone-patient"]
            scopes += ["openid", "fhirUser", "launch/patient"]
        if settings.auth_token_endpoint:
            config["token_endpoint"] = settings.auth_token_endpoint
            grant_types.append("client_credentials")
            capabilities.append("client-confidential-asymmetric")
        config["grant_types_supported"] = grant_types
    config["scopes_supported"] = scopes
    config["response_types_supported"] = response_types
    config["capabilities"] = capabilities
    config["code_challenge_methods_supported"] = ["S256"]
    return config


@router.get(
    "/.well-known/smart-configuration",
    summary="SMART App Launch configuration",
    response_model=None,
)
async def get_smart_configuration(request: Request) -> JSONResponse:
    """How clients get tokens for this server and which scopes it understands."""
    context = server(request)
    body = smart_configuration(context.settings, context.base_url(request))
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


@router.get("/.well-known/jwks.json", summary="Public keys tokens are checked against")
async def get_jwks(request: Request) -> JSONResponse:
    """The public keys this server checks tokens against (in `dev` mode, the local key)."""
    body = await authenticator_of(request).jwks()
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


@health_router.get("/healthz", summary="Liveness and database check")
async def healthz(request: Request) -> JSONResponse:
    """200 `{"status": "ok"}` when the database answers `SELECT 1`, else 503."""
    engine = server(request).store.engine
    try:
        with anyio.fail_after(HEALTH_TIMEOUT_SECONDS):
            async with engine.connect() as conn:
                await conn.execute(select(1))
    except Exception as exc:  # any failure means "not healthy"; the reason goes to the log
        log.warning("health check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
