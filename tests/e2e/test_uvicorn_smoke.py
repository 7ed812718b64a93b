"""The real thing: `patientkontrakt migrate` and `serve` as processes, spoken to over HTTP.

No DATABASE_URL is given, so the service uses its default SQLite file under PK_DATA_DIR.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

COMMAND = Path(sys.executable).parent / "patientkontrakt"
STARTUP_TIMEOUT = 20.0
PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
PERSONNUMMER = "191212121212"  # Tolvan Tolvansson, the well-known test number
FHIR_JSON = "application/fhir+json"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    """The test process's environment without any service setting, plus our own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PK_") and key != "DATABASE_URL"
    }
    env.update(PK_DATA_DIR=str(data_dir), PK_PORT=str(port), PK_HOST="127.0.0.1")
    return env


def bearer_token(env: dict[str, str]) -> str:
    """A full-access development token for the server run with `env` (PK_AUTH_MODE=dev, the
    key under its PK_DATA_DIR), made by the `patientkontrakt token` command."""
    made = subprocess.run(
        [str(COMMAND), "token", "--scope", "system/*.cruds"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.count(".") == 2, made.stdout  # a JWT
    return token


@dataclass
class Server:
    base: str
    data_dir: Path
    log: Path
    token: str = ""

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header of the system token."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A migrated data dir and a running `patientkontrakt serve`, stopped after the test."""
    assert COMMAND.is_file(), f"{COMMAND} is missing: install the package (make test does)"
    data_dir = tmp_path / "data"
    port = free_port()
    env = server_env(data_dir, port)

    migrated = subprocess.run(
        [str(COMMAND), "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert (data_dir / "patientkontrakt.db").is_file()
    token = bearer_token(env)

    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(COMMAND), "serve"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    running = Server(f"http://127.0.0.1:{port}/fhir", data_dir, log, token)
    try:
        wait_until_up(process, running)
        yield running
    finally:
        stop(process)


def wait_until_up(process: subprocess.Popen[bytes], running: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{running.output()}")
        try:
            if httpx.get(f"{running.base}/metadata", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"serve did not answer within {STARTUP_TIMEOUT} s:\n{running.output()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_metadata_and_core_cycle(server: Server) -> None:
    with httpx.Client(base_url=server.base, timeout=10, headers=server.auth) as client:
        metadata = client.get("/metadata")
        assert metadata.status_code == 200
        assert metadata.headers["content-type"].startswith(FHIR_JSON)
        capability = metadata.json()
        assert capability["resourceType"] == "CapabilityStatement"
        assert capability["fhirVersion"] == "4.0.1"

        tolvan = {
            "resourceType": "Patient",
            "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": PERSONNUMMER}],
            "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
        }
        created = client.post("/Patient", json=tolvan, headers={"Content-Type": FHIR_JSON})
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        assert created.headers["etag"] == 'W/"1"'
        assert created.headers["location"] == f"{server.base}/Patient/{pid}/_history/1"

        read = client.get(f"/Patient/{pid}")
        assert read.status_code == 200
        assert read.content == created.content
        assert read.json()["identifier"][0]["value"] == PERSONNUMMER

        found = client.get(
            "/Patient", params={"identifier": f"{PERSONNUMMER_SYSTEM}|{PERSONNUMMER}"}
        )
        assert found.status_code == 200
        assert [e["resource"]["id"] for e in found.json()["entry"]] == [pid]

        body = read.json()
        body["active"] = True
        updated = client.put(
            f"/Patient/{pid}", json=body, headers={"Content-Type": FHIR_JSON, "If-Match": 'W/"1"'}
        )
        assert updated.status_code == 200, updated.text
        assert updated.headers["etag"] == 'W/"2"'
        assert updated.json()["active"] is True

        stale = client.put(
            f"/Patient/{pid}", json=body, headers={"Content-Type": FHIR_JSON, "If-Match": 'W/"1"'}
        )
        assert stale.status_code == 412

        history = client.get(f"/Patient/{pid}/_history")
        assert history.status_code == 200
        assert history.json()["type"] == "history"
        assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["2", "1"]

        deleted = client.delete(f"/Patient/{pid}")
        assert deleted.status_code == 204
        gone = client.get(f"/Patient/{pid}")
        assert gone.status_code == 410
        assert gone.json()["resourceType"] == "OperationOutcome"

        missing = client.get(f"/Patient/{pid}-no-such-patient")
        assert missing.status_code == 404

    # The paging key was made in the data dir, readable by the service's user only.
    key = server.data_dir / "paging.key"
    assert key.is_file()
    assert key.stat().st_mode & 0o077 == 0


def test_personnummer_stays_out_of_the_log(server: Server) -> None:
    criteria = f"{PERSONNUMMER_SYSTEM}|{PERSONNUMMER}"
    with httpx.Client(base_url=server.base, timeout=10, headers=server.auth) as client:
        created = client.post(
            "/Patient",
            json={
                "resourceType": "Patient",
                "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": PERSONNUMMER}],
            },
            headers={"Content-Type": FHIR_JSON},
        )
        assert created.status_code == 201, created.text
        # In the query string of a search, a conditional create and a failing request.
        assert client.get("/Patient", params={"identifier": criteria}).status_code == 200
        again = client.post(
            "/Patient",
            json={"resourceType": "Patient"},
            headers={"Content-Type": FHIR_JSON, "If-None-Exist": f"identifier={criteria}"},
        )
        assert again.status_code == 200
        unsupported = client.get(
            "/Patient", params={"nonsense": PERSONNUMMER}, headers={"Prefer": "handling=strict"}
        )
        assert unsupported.status_code == 400
        invalid = client.post(
            "/Patient",
            json={"resourceType": "Patient", "identifier": [{"value": PERSONNUMMER, "x": 1}]},
            headers={"Content-Type": FHIR_JSON},
        )
        assert invalid.status_code == 422

    output = server.output()
    assert "Application startup complete" in output  # the log was captured at all
    assert PERSONNUMMER not in output
