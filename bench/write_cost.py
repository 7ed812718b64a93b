"""What writes cost, in process (no HTTP server, no network, one client).

`python -m bench.write_cost [--database-url URL] [--bundles N] [--cycles N]` on a fresh
database (default: a SQLite file in a temporary folder; a PostgreSQL URL must name an empty,
migrated or new database): a few demo patients are stored, then the mean time of a transaction
Bundle of 100 new resources (scenario 4 of `make bench`, the same pool of Bundles) and of the
CRUD cycle of 28 requests (scenario 2), each through the in-process ASGI transport with a system
token and the whole audit trail. It isolates the server's own work from HTTP and the load driver.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench.client import Answer, FailedError
from bench.data import County, write_county
from bench.driver import Unit
from bench.scenarios import SCENARIOS
from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from patientkontrakt.security.tokens import issue_dev_token
from patientkontrakt.store import migrate

FHIR_JSON = "application/fhir+json"
PATIENTS = 5


async def _store_county(client: httpx.AsyncClient, county: County) -> None:
    for path in county.files:
        with path.open("rb") as lines:
            for line in lines:
                resource = orjson.loads(line)
                answer = await client.put(
                    f"/{resource['resourceType']}/{resource['id']}", content=line
                )
                answer.raise_for_status()


class InProcess:
    """`bench.client.Connection.request` over the in-process ASGI transport, so that the
    scenarios' own units run here unchanged."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...],
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send one request; `FailedError` unless its status is expected."""
        response = await self.client.request(method, path, content=body, headers=headers)
        if response.status_code not in expect:
            raise FailedError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        found = {k.encode(): v.encode() for k, v in response.headers.items()}
        return Answer(response.status_code, found, response.content)


def _unit(key: str, county: County) -> Unit:
    scenario = next(s for s in SCENARIOS if s.key == key)
    assert scenario.unit is not None
    return scenario.unit(None, county)  # neither of the two units uses its server


async def measure(database_url: str | None, bundles: int, cycles: int) -> dict[str, float]:
    """Mean ms per transaction Bundle and per CRUD cycle."""
    folder = Path(tempfile.mkdtemp(prefix="pk-writes-"))
    url = database_url or f"sqlite:///{folder / 'bench.db'}"
    migrate.upgrade(url)
    settings = Settings(database_url=url, data_dir=folder, base_url="http://bench/fhir")
    app = create_app(settings)
    token = issue_dev_token(settings, scope="system/*.cruds", client_id="bench")
    county = write_county(folder, PATIENTS, dt.date.today())
    headers = {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://bench/fhir", headers=headers, timeout=600
        ) as client,
    ):
        await _store_county(client, county)
        connection = InProcess(client)
        rng = random.Random(1)
        timings = {}
        for key, times in (("transaction", bundles), ("crud", cycles)):
            unit = _unit(key, county)
            started = time.perf_counter()
            for _ in range(times):
                await unit(connection, rng)
            timings[key] = (time.perf_counter() - started) * 1000 / times
    return {
        "transaction of 100, ms": round(timings["transaction"]),
        "CRUD cycle of 28, ms": round(timings["crud"]),
    }


def main() -> None:
    """Print the mean time of each kind of write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--bundles", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=15)
    args = parser.parse_args()
    for name, value in asyncio.run(measure(args.database_url, args.bundles, args.cycles)).items():
        print(f"{name:24} {value:6}")


if __name__ == "__main__":
    main()
