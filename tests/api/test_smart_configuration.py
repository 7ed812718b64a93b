"""SMART discovery, the published keys and the health check: open routes, no token needed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from patientkontrakt.security.tokens import issue_dev_token

pytestmark = pytest.mark.anyio

SMART = "/.well-known/smart-configuration"
JWKS = "/.well-known/jwks.json"
IDP = "https://idp.region.test/realms/vard"


async def test_dev_mode_configuration(client: httpx.AsyncClient) -> None:
    response = await client.get(SMART)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["issuer"] == "patientkontrakt-dev"
    assert body["jwks_uri"] == "http://test/fhir/.well-known/jwks.json"
    assert "token_endpoint" not in body
    assert "authorization_endpoint" not in body
    assert body["grant_types_supported"] == []
    assert body["response_types_supported"] == []
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert set(body["capabilities"]) == {
        "permission-v1",
        "permission-v2",
        "permission-patient",
        "permission-user",
    }
    assert {"patient/*.rs", "user/*.cruds", "system/*.cruds", "user/*.read"} <= set(
        body["scopes_supported"]
    )


async def test_no_token_is_needed_even_with_a_bad_one(client: httpx.AsyncClient) -> None:
    response = await client.get(SMART, headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200
    assert response.json()["issuer"] == "patientkontrakt-dev"


async def test_the_dev_jwks_verifies_dev_tokens(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    token = issue_dev_token(settings, scope="system/*.rs")
    response = await client.get(JWKS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    [key] = response.json()["keys"]
    assert key["kty"] == "EC"
    assert key["crv"] == "P-256"
    assert key["alg"] == "ES256"
    assert key["use"] == "sig"
    assert "d" not in key
    assert key["kid"] == jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, jwt.PyJWK(key), algorithms=["ES256"], audience="patientkontrakt-dev")
    assert claims["sub"] == "patientkontrakt-cli"


async def test_the_dev_key_is_made_on_first_use_only(app: FastAPI, settings: Settings) -> None:
    # A client of its own: the shared one issues a token, which makes the key.
    key_file = settings.data_dir / "dev-signing-key.pem"
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/fhir") as c:
        assert (await c.get(SMART)).status_code == 200
        assert not key_file.exists()
        assert (await c.get(JWKS)).status_code == 200
        assert key_file.exists()


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("http://test/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok"}


class BrokenEngine:
    def connect(self) -> Any:
        raise ConnectionError("database down")


async def test_healthz_without_a_database(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.server.store, "engine", BrokenEngine())
    response = await client.get("http://test/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


# -- jwt mode ----------------------------------------------------------------------------------


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)
    assert isinstance(jwk, dict)
    path = tmp_path / "idp-jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "idp-1"}]}))  # private part included
    return path


async def jwt_client(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    values = {
        "database_url": settings.database_url,
        "data_dir": settings.data_dir,
        "paging_secret": "test-paging-secret",
        "base_url": "http://test/fhir",
        "auth_mode": "jwt",
        "auth_issuer": IDP,
        **overrides,
    }
    app = create_app(Settings(**values))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test/fhir") as c:
            yield c
    finally:
        await app.state.server.store.dispose()


@pytest.fixture
async def idp_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in jwt_client(
        settings,
        auth_jwks_url=f"{IDP}/protocol/openid-connect/certs",
        auth_authorization_endpoint=f"{IDP}/protocol/openid-connect/auth",
        auth_token_endpoint=f"{IDP}/protocol/openid-connect/token",
    ):
        yield c


async def test_jwt_mode_advertises_the_identity_providers_endpoints(
    idp_client: httpx.AsyncClient,
) -> None:
    body = (await idp_client.get(SMART)).json()
    assert body["issuer"] == IDP
    assert body["jwks_uri"] == f"{IDP}/protocol/openid-connect/certs"
    assert body["authorization_endpoint"] == f"{IDP}/protocol/openid-connect/auth"
    assert body["token_endpoint"] == f"{IDP}/protocol/openid-connect/token"
    assert body["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert {
        "launch-standalone",
        "context-standalone-patient",
        "client-confidential-asymmetric",
        "permission-v2",
    } <= set(body["capabilities"])
    assert {"openid", "fhirUser", "launch/patient"} <= set(body["scopes_supported"])


async def test_jwt_mode_with_a_jwks_file_publishes_its_public_keys(
    settings: Settings, jwks_file: Path
) -> None:
    async for c in jwt_client(settings, auth_jwks_file=jwks_file):
        body = (await c.get(SMART)).json()
        assert body["jwks_uri"] == "http://test/fhir/.well-known/jwks.json"
        assert "token_endpoint" not in body
        assert body["grant_types_supported"] == []
        assert "launch-standalone" not in body["capabilities"]
        [key] = (await c.get(JWKS)).json()["keys"]
        assert key["kid"] == "idp-1"
        assert "d" not in key
        assert not (settings.data_dir / "dev-signing-key.pem").exists()
