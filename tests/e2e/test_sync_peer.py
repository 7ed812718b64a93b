"""`sync pull` from another patientkontrakt server, a real process, that wants OAuth2 client
credentials: the token comes from a token endpoint run in the test, which checks the client's
credentials and hands out tokens the server accepts (development tokens signed with its key).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner, Result

from patientkontrakt.cli import app as cli
from patientkontrakt.config import Settings, get_settings
from patientkontrakt.contract.vocabulary import PERSONNUMMER
from patientkontrakt.security.tokens import issue_dev_token
from tests.service_process import Server, run_command, running_service, server_env
from tests.thread_server import serving

pytestmark = pytest.mark.anyio

CLIENT_ID = "regional-sync"
SECRET = "peer-secret"


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Another patientkontrakt server holding the demo county's first two patients."""
    directory: Path = tmp_path_factory.mktemp("sync-peer")
    with running_service(directory, PK_DEMO_DATA="0") as server:
        run_command(
            server_env(server.data_dir, server.port),
            "demo-data",
            "--patients",
            "2",
            "--today",
            "2026-03-11",
        )
        yield server


def token_endpoint(peer: Server, calls: list[str]) -> Starlette:
    """Client credentials in HTTP Basic; the token a system integration of `peer` would get."""

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        user, _, password = (
            base64.b64decode(request.headers.get("authorization", "Basic ")[6:])
            .decode()
            .partition(":")
        )
        calls.append(form.get("scope", ""))
        if form.get("grant_type") != "client_credentials" or (user, password) != (
            CLIENT_ID,
            SECRET,
        ):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        text = issue_dev_token(
            Settings(data_dir=peer.data_dir),
            scope=form["scope"],
            client_id=user,
            minutes=5,
        )
        return JSONResponse({"access_token": text, "token_type": "bearer", "expires_in": 300})

    return Starlette(routes=[Route("/token", token, methods=["POST"])])


async def run(*args: str, env: dict[str, str]) -> Result:
    get_settings.cache_clear()
    return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(cli, list(args), env=env))


async def test_pull_from_a_peer_with_client_credentials(
    client: httpx.AsyncClient, cli_env: None, peer: Server
) -> None:
    calls: list[str] = []
    with serving(token_endpoint(peer, calls)) as idp:
        args = (
            "sync",
            "pull",
            "--from",
            peer.base,
            "--patient",
            "19121212-1212",
            "--page-size",
            "3",
            "--token-url",
            f"{idp}/token",
            "--client-id",
            CLIENT_ID,
            "--scope",
            "system/*.rs",
        )
        refused = await run(*args, env={"PK_SYNC_CLIENT_SECRET": "wrong"})
        assert refused.exit_code == 1, refused.output
        assert "refused client 'regional-sync': 401 Unauthorized: invalid_client" in (
            refused.stderr
        )
        assert "wrong" not in refused.stderr

        pulled = await run(*args, env={"PK_SYNC_CLIENT_SECRET": SECRET})
    assert pulled.exit_code == 0, pulled.output
    assert calls == ["system/*.rs", "system/*.rs"]  # one refused, then one for the whole pull
    assert f"pulled from {peer.base}: 1 patient(s)" in pulled.stdout
    assert ", 0 updated, 0 unchanged" in pulled.stdout

    found = await client.get("/Patient", params={"identifier": f"{PERSONNUMMER}|191212121212"})
    assert found.status_code == 200, found.text
    [patient] = [e["resource"] for e in found.json()["entry"]]
    plans = await client.get("/CarePlan", params={"subject": f"Patient/{patient['id']}"})
    [plan] = [e["resource"] for e in plans.json()["entry"]]
    assert plan["identifier"] == [
        {"system": f"{peer.base}/CarePlan", "value": "demo-careplan-000001"}
    ]
    assert plan["title"].startswith("Sammanhållen planering")

    # The peer audited the reads as the client the token was issued to.
    async with httpx.AsyncClient(headers=peer.auth, timeout=30) as other:
        audit = await other.get(
            f"{peer.base}/AuditEvent",
            params={"agent:identifier": f"urn:ietf:params:oauth:client-id|{CLIENT_ID}"},
        )
    assert audit.status_code == 200, audit.text
    assert audit.json()["entry"]
