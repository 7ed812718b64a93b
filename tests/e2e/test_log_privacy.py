"""No personal data and no tokens in the log of a real `patientkontrakt serve`, whatever the
requests carry and however they fail: search, body, 4xx, 414, 500 and a malformed request.

The server's standard output and standard error are captured together and searched for the test
personnummer (both spellings) and for the bearer token.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_uvicorn_smoke import FHIR_JSON, PERSONNUMMER, PERSONNUMMER_SYSTEM
from tests.service_process import Server, running_service

DASHED = f"{PERSONNUMMER[:8]}-{PERSONNUMMER[8:]}"  # 19121212-1212
CRITERIA = f"{PERSONNUMMER_SYSTEM}|{PERSONNUMMER}"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Server]:
    with running_service(tmp_path) as server:
        yield server


def send_malformed_request(port: int) -> bytes:
    """A request line with a personnummer and a broken header: the HTTP parser refuses it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"GET /fhir/Patient?identifier={PERSONNUMMER} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nX-Broken {DASHED}\r\n\r\n".encode()
        )
        return sock.recv(4096)


def break_the_token_index(database: Path) -> None:
    """Drop an index table under the running server: identifier searches and Patient writes
    then fail inside the database layer, a genuine unexpected (500) error."""
    with sqlite3.connect(database, timeout=30) as conn:
        conn.execute("DROP TABLE token_index")


def test_personal_data_and_tokens_stay_out_of_the_log(running: Server) -> None:
    auth = {"Authorization": f"Bearer {running.token}"}
    tolvan = {
        "resourceType": "Patient",
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": PERSONNUMMER}],
        "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
    }
    with httpx.Client(base_url=running.base, timeout=10, headers=auth) as client:
        created = client.post("/Patient", json=tolvan, headers={"Content-Type": FHIR_JSON})
        assert created.status_code == 201, created.text
        found = client.get("/Patient", params={"identifier": CRITERIA})
        assert found.status_code == 200, found.text
        assert len(found.json()["entry"]) == 1
        dashed = client.get("/Patient", params={"identifier": DASHED, "name": DASHED})
        assert dashed.status_code == 200, dashed.text
        again = client.post(
            "/Patient",
            json={"resourceType": "Patient"},
            headers={"Content-Type": FHIR_JSON, "If-None-Exist": f"identifier={CRITERIA}"},
        )
        assert again.status_code == 200, again.text

        # Failing requests: 400, 404, 422, 414.
        strict = client.get(
            "/Patient", params={"nonsense": PERSONNUMMER}, headers={"Prefer": "handling=strict"}
        )
        assert strict.status_code == 400, strict.text
        bad_date = client.get("/Patient", params={"birthdate": DASHED})
        assert bad_date.status_code == 400, bad_date.text
        missing = client.get(f"/Patient/{PERSONNUMMER}")
        assert missing.status_code == 404, missing.text
        invalid = client.post(
            "/Patient",
            json={"resourceType": "Patient", "identifier": [{"value": DASHED, "x": PERSONNUMMER}]},
            headers={"Content-Type": FHIR_JSON},
        )
        assert invalid.status_code == 422, invalid.text
        not_json = client.post(
            "/Patient",
            content=f'{{"identifier": "{PERSONNUMMER}"'.encode(),
            headers={"Content-Type": FHIR_JSON},
        )
        assert not_json.status_code == 400, not_json.text
        too_long = client.get("/Patient", params={"identifier": CRITERIA, "name": "x" * 9000})
        assert too_long.status_code == 414, too_long.text

    # Tokens that are refused must not be logged either.
    with httpx.Client(base_url=running.base, timeout=10) as anonymous:
        for authorization in (f"Bearer {PERSONNUMMER}", f"Bearer {running.token}x", "Basic x"):
            refused = anonymous.get(
                "/Patient",
                params={"identifier": CRITERIA},
                headers={"Authorization": authorization},
            )
            assert refused.status_code == 401, refused.text

    assert send_malformed_request(running.port).startswith(b"HTTP/1.1 400")

    # Unexpected errors inside the database layer, with the personnummer in query and body.
    break_the_token_index(running.data_dir / "patientkontrakt.db")
    with httpx.Client(base_url=running.base, timeout=10, headers=auth) as client:
        failed_search = client.get("/Patient", params={"identifier": CRITERIA})
        assert failed_search.status_code == 500, failed_search.text
        assert failed_search.json()["resourceType"] == "OperationOutcome"
        failed_write = client.post("/Patient", json=tolvan, headers={"Content-Type": FHIR_JSON})
        assert failed_write.status_code == 500, failed_write.text
        assert PERSONNUMMER not in failed_write.text
        assert "token_index" not in failed_write.text  # no internals for the client either

    output = running.stopped_output()
    assert "Application startup complete" in output  # the log was captured at all
    assert output.count("internal error: OperationalError") == 2  # the 500s were logged
    assert "Invalid HTTP request received" in output  # and the malformed request
    assert PERSONNUMMER not in output
    assert DASHED not in output
    assert running.token not in output
    assert running.token.rsplit(".", 1)[-1] not in output  # not even the signature
