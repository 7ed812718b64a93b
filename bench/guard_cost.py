"""What access control and audit cost a read, in process (no HTTP server, no network).

`python -m bench.guard_cost [--reads N]` on a fresh SQLite database: the mean time of
`GET /fhir/CarePlan/{id}` through the in-process ASGI transport, with the app's RequestScope
replaced step by step: nothing checked, the token only, the whole guard without the audit write,
everything with the audit records committed straight to the store (`PK_AUDIT_JOURNAL=0`), and
everything as served (records appended to the audit journal, its mover running alongside). The
differences are what each step costs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from starlette.requests import Request

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from patientkontrakt.fhir.guard import UNRESTRICTED, RequestScope
from patientkontrakt.security.authorize import Authorizer
from patientkontrakt.security.tokens import issue_dev_token
from patientkontrakt.store import migrate

Authorize = Callable[[Request], Awaitable[RequestScope]]


async def _mean_ms(client: httpx.AsyncClient, path: str, reads: int) -> float:
    for _ in range(20):  # warm-up
        await client.get(path)
    started = time.perf_counter()
    for _ in range(reads):
        response = await client.get(path)
        response.raise_for_status()
    return (time.perf_counter() - started) * 1000 / reads


def _variants(authorizer: Authorizer, direct: Authorizer) -> dict[str, Authorize]:
    async def unrestricted(_request: Request) -> RequestScope:
        return UNRESTRICTED

    async def token_only(request: Request) -> RequestScope:
        await authorizer.authenticator.authenticate(request.headers.get("authorization"))
        return UNRESTRICTED

    async def without_audit_write(request: Request) -> RequestScope:
        scope = await authorizer(request)

        async def keep_nothing(_status: int) -> None:
            return None

        scope.guard.finish = keep_nothing  # type: ignore[method-assign]
        return scope

    return {
        "nothing checked": unrestricted,
        "token only": token_only,
        "guard, no audit write": without_audit_write,
        "everything, direct to store": direct,
        "everything, journal": authorizer,
    }


async def measure(reads: int) -> dict[str, float]:
    """Mean ms per read for each variant."""
    folder = Path(tempfile.mkdtemp(prefix="pk-guard-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    migrate.upgrade(url)
    settings = Settings(database_url=url, data_dir=folder, base_url="http://bench/fhir")
    app = create_app(settings)
    token = issue_dev_token(settings, scope="system/*.cruds", client_id="bench")
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    results: dict[str, float] = {}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench/fhir", headers=headers
    ) as client:
        plan = {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/bench"},
        }
        created = await client.post(
            "/CarePlan", json=plan, headers={"Content-Type": "application/fhir+json"}
        )
        created.raise_for_status()
        path = f"/CarePlan/{created.json()['id']}"
        server = app.state.server
        served = server.authorize
        direct = Authorizer(
            settings.model_copy(update={"audit_journal": False}), server.store, served.rules
        )
        assert served.journal is not None
        served.journal.start()  # as the app's lifespan does
        for name, authorize in _variants(served, direct).items():
            app.state.server = dataclasses.replace(server, authorize=authorize)
            results[name] = round(await _mean_ms(client, path, reads), 2)
        await served.journal.stop()
    await server.store.dispose()
    return results


def main() -> None:
    """Print the mean read time of each variant."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()
    for name, ms in asyncio.run(measure(args.reads)).items():
        print(f"{name:28} {ms:6.2f} ms")


if __name__ == "__main__":
    main()
