"""Fixtures of the interop suite: the HAPI FHIR sandbox and our own server, side by side.

HAPI's base URL comes from HAPI_BASE_URL (`scripts/hapi-sandbox start` prints it). Without it
the suite skips locally and fails in CI (CI=true), where `.ci/run` starts the sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.data import transaction

from tests.interop import dataset
from tests.interop.peers import Peer
from tests.service_process import running_service


@pytest.fixture(scope="session")
def hapi_base_url() -> str:
    """The HAPI FHIR sandbox's base URL, checked to answer `/metadata`."""
    base = os.environ.get("HAPI_BASE_URL", "").rstrip("/")
    in_ci = os.environ.get("CI", "").lower() == "true"
    if not base:
        message = "HAPI_BASE_URL is not set: start the sandbox with `scripts/hapi-sandbox start`"
        if in_ci:
            pytest.fail(f"{message} (CI must run the interop tests)")
        pytest.skip(message)
    try:
        answer = httpx.get(f"{base}/metadata", timeout=30)
    except httpx.TransportError as exc:
        pytest.fail(f"HAPI FHIR at {base} does not answer: {exc}")
    assert answer.status_code == 200, f"HAPI FHIR at {base}/metadata: {answer.status_code}"
    return base


@pytest.fixture(scope="session")
def hapi(hapi_base_url: str) -> Peer:
    """HAPI FHIR holding the dataset."""
    peer = Peer("HAPI FHIR", hapi_base_url)
    _load(peer)
    return peer


@pytest.fixture(scope="session")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Our server as a process (`patientkontrakt serve`, SQLite) holding the dataset."""
    directory: Path = tmp_path_factory.mktemp("interop-server")
    with running_service(directory, PK_DEMO_DATA="0") as server:
        peer = Peer("patientkontrakt", server.base, server.auth)
        _load(peer)
        yield peer


def _load(peer: Peer) -> None:
    response = peer.load(transaction(dataset.everything()))
    assert response.status_code == 200, f"{peer.name} refused the dataset: {response.text}"
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert all(s.startswith(("200", "201")) for s in statuses), statuses


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line saying how the interop tests went, and against which HAPI, for the CI log."""
    counts = {
        outcome: sum(1 for r in terminalreporter.stats.get(outcome, []) if _interop(r))
        for outcome in ("passed", "failed", "skipped", "error")
    }
    if any(counts.values()):
        against = os.environ.get("HAPI_BASE_URL") or "no HAPI_BASE_URL"
        numbers = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n)
        terminalreporter.write_line(
            f"interop and sync tests against HAPI FHIR ({against}): {numbers}"
        )


def _interop(report: object) -> bool:
    return str(getattr(report, "nodeid", "")).startswith("tests/interop/")
