"""The sync client against a real HTTP server run in the test: retries with backoff on 429 and
503, `Retry-After`, paging, and OAuth2 client credentials (token cached, renewed on 401).

The server is a small Starlette app under uvicorn in a thread, on a free loopback port; each
test scripts its answers and counts what it was asked.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patientkontrakt.sync.client import FhirClient, RetryPolicy, SyncError
from patientkontrakt.sync.oauth import ClientCredentials, OAuthError, check_token_url
from tests.service_process import free_port
from tests.thread_server import serving

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(retries=3, base_delay=0.05, max_delay=0.2)
CLIENT_ID = "cosmic-integration"
SECRET = "s3cret/with:odd+chars"  # form-encoded in Basic auth


@dataclass
class Script:
    """What the test server answers, and what it was asked."""

    answers: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    """Per path, answers (status, headers) given in turn; after the last, 200 with a Patient."""
    seen: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)
    """(path, monotonic time, headers) of every FHIR request."""
    token_calls: list[dict[str, str]] = field(default_factory=list)
    """The form (and Authorization header) of every token request."""
    valid_tokens: set[str] = field(default_factory=set)
    expires_in: int | None = 3600
    auth_required: bool = False
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)


def app(script: Script) -> Starlette:
    async def token(request: Request) -> Response:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = dict(parse_qsl((await request.body()).decode()))
        script.token_calls.append(
            {**form, "authorization": request.headers.get("authorization", "")}
        )
        given = (form.get("client_id"), form.get("client_secret"))
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            given = (unquote_plus(user), unquote_plus(password))
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if given != (CLIENT_ID, SECRET):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "bad credentials"},
                status_code=401,
            )
        value = f"token-{len(script.token_calls)}"
        script.valid_tokens.add(value)
        body: dict[str, Any] = {"access_token": value, "token_type": "Bearer"}
        if script.expires_in is not None:
            body["expires_in"] = script.expires_in
        return JSONResponse(body)

    async def fhir(request: Request) -> Response:
        path = request.url.path.removeprefix("/fhir").lstrip("/")
        script.seen.append((path, time.monotonic(), dict(request.headers)))
        if script.auth_required:
            header = request.headers.get("authorization", "")
            if header.removeprefix("Bearer ") not in script.valid_tokens:
                return JSONResponse(
                    {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "login", "diagnostics": "no"}],
                    },
                    status_code=401,
                )
        queue = script.answers.get(path, [])
        page = request.query_params.get("page")
        if page is not None and not queue:
            return JSONResponse(script.pages[page])
        if queue:
            status, headers = queue.pop(0)
            return JSONResponse(
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "transient", "diagnostics": "busy"}],
                },
                status_code=status,
                headers=headers,
            )
        return JSONResponse({"resourceType": "Patient", "id": path.rsplit("/", 1)[-1]})

    return Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/fhir", fhir, methods=["GET", "POST"]),
            Route("/fhir/{path:path}", fhir, methods=["GET", "POST"]),
        ]
    )


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def origin(script: Script) -> Iterator[str]:
    with serving(app(script)) as url:
        yield url


# --- retries --------------------------------------------------------------------------------


async def test_429_waits_as_long_as_retry_after_says(script: Script, origin: str) -> None:
    script.answers["Patient/p1"] = [(429, {"Retry-After": "1"})]
    notes: list[str] = []
    async with FhirClient(f"{origin}/fhir", retry=FAST, on_retry=notes.append) as client:
        body = await client.json("GET", "Patient/p1")
    assert body == {"resourceType": "Patient", "id": "p1"}
    assert [p for p, _, _ in script.seen] == ["Patient/p1", "Patient/p1"]
    waited = script.seen[1][1] - script.seen[0][1]
    assert 0.95 <= waited < 3, waited  # Retry-After (1 s), not the 0.05 s backoff
    assert len(notes) == 1
    assert "429 from GET" in notes[0]
    assert "retry 1 of 3 in 1.0 s" in notes[0]


def test_retry_after_as_an_http_date() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    response = httpx.Response(503, headers={"Retry-After": email.utils.format_datetime(later)})
    delay = RetryPolicy().retry_after(response)
    assert delay is not None
    assert 27 < delay <= 30
    capped = RetryPolicy(max_retry_after=5).retry_after(
        httpx.Response(429, headers={"Retry-After": "600"})
    )
    assert capped == 5
    assert RetryPolicy().retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None


async def test_503_twice_then_success_with_backoff(script: Script, origin: str) -> None:
    script.answers["Patient/p2"] = [(503, {}), (503, {})]
    notes: list[str] = []
    async with FhirClient(f"{origin}/fhir", retry=FAST, on_retry=notes.append) as client:
        body = await client.json("GET", "Patient/p2")
    assert body["id"] == "p2"
    times = [t for p, t, _ in script.seen if p == "Patient/p2"]
    assert len(times) == 3
    first, second = times[1] - times[0], times[2] - times[1]
    # Backoff with jitter: the first pause in [0.025, 0.05], the second in [0.05, 0.1] s.
    assert 0.02 <= first < 0.5, first
    assert 0.045 <= second < 0.6, second
    assert len(notes) == 2
    for number, note in enumerate(notes, start=1):
        assert note.startswith("503 from GET"), note
        assert f"retry {number} of 3" in note


async def test_retries_run_out_and_the_error_names_the_status(script: Script, origin: str) -> None:
    script.answers["Patient/p3"] = [(503, {})] * 4
    policy = RetryPolicy(retries=1, base_delay=0.01)
    async with FhirClient(f"{origin}/fhir", retry=policy) as client:
        response = await client.request("GET", "Patient/p3")
        assert response.status_code == 503
        with pytest.raises(
            SyncError, match=r"GET .*/fhir/Patient/p3: 503 Service Unavailable: busy"
        ):
            await client.json("GET", "Patient/p3")
    assert len(script.seen) == 4  # two tries each


async def test_a_404_is_not_retried(script: Script, origin: str) -> None:
    script.answers["Patient/gone"] = [(404, {})]
    async with FhirClient(f"{origin}/fhir", retry=FAST) as client:
        assert await client.read("Patient", "gone") is None
    assert len(script.seen) == 1


async def test_connection_refused_is_retried_then_reported() -> None:
    port = free_port()  # nobody listens there
    notes: list[str] = []
    policy = RetryPolicy(retries=2, base_delay=0.01)
    async with FhirClient(
        f"http://127.0.0.1:{port}/fhir", retry=policy, on_retry=notes.append
    ) as client:
        with pytest.raises(SyncError, match=r"ConnectError.*after 3 tries"):
            await client.json("GET", "metadata")
    assert len(notes) == 2
    assert all("ConnectError" in n for n in notes)


async def test_a_slow_answer_times_out() -> None:
    # A listening socket nobody reads from: the connection is made, no answer ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        policy = RetryPolicy(retries=1, base_delay=0.01)
        async with FhirClient(f"http://127.0.0.1:{port}/fhir", timeout=0.2, retry=policy) as client:
            started = time.monotonic()
            with pytest.raises(SyncError, match=r"ReadTimeout.*after 2 tries"):
                await client.json("GET", "metadata")
            assert time.monotonic() - started < 3


# --- paging ---------------------------------------------------------------------------------


def _page(base: str, ids: list[str], following: str | None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": f"{base}/Appointment"}],
        "entry": [
            {"resource": {"resourceType": "Appointment", "id": i}, "search": {"mode": "match"}}
            for i in ids
        ]
        + [
            {
                "resource": {"resourceType": "Patient", "id": "included"},
                "search": {"mode": "include"},
            }
        ],
    }
    if following is not None:
        page["link"].append({"relation": "next", "url": following})
    return page


async def test_search_all_follows_next_links_to_the_end(script: Script, origin: str) -> None:
    base = f"{origin}/fhir"
    script.answers["Appointment"] = [(503, {})]  # the first page is retried, too
    script.pages["2"] = _page(base, ["a3", "a4"], f"{base}?page=3")
    # The last link is written with another address, as HAPI FHIR in a container writes its
    # configured one: the path is the base's, so it is followed on our base.
    script.pages["3"] = _page(base, ["a5"], None)
    script.pages["1"] = _page(base, ["a1", "a2"], f"{base}/Appointment?page=2")
    async with FhirClient(base, retry=FAST) as client:
        found = await client.search_all("Appointment", {"page": "1", "_count": "2"})
    assert [r["id"] for r in found] == ["a1", "a2", "a3", "a4", "a5"]
    assert [p for p, _, _ in script.seen] == ["Appointment", "Appointment", "Appointment", ""]


async def test_a_next_link_to_another_server_is_not_followed(script: Script, origin: str) -> None:
    base = f"{origin}/fhir"
    script.pages["1"] = _page(base, ["a1"], "https://elsewhere.example/other?page=2")
    async with FhirClient(base, retry=FAST) as client:
        with pytest.raises(SyncError, match="not on the server"):
            await client.search_all("Appointment", {"page": "1"})
    assert len(script.seen) == 1


async def test_a_next_link_written_with_another_host_but_our_path_is_followed(
    script: Script, origin: str
) -> None:
    base = f"{origin}/fhir"
    script.pages["1"] = _page(base, ["a1"], "http://localhost:8080/fhir?page=2")
    script.pages["2"] = _page(base, ["a2"], None)
    async with FhirClient(base, retry=FAST) as client:
        found = await client.search_all("Appointment", {"page": "1"})
    assert [r["id"] for r in found] == ["a1", "a2"]


# --- OAuth2 client credentials --------------------------------------------------------------


async def test_token_is_fetched_once_and_reused(script: Script, origin: str) -> None:
    script.auth_required = True
    auth = ClientCredentials(f"{origin}/token", CLIENT_ID, SECRET, scope="system/*.rs")
    async with FhirClient(f"{origin}/fhir", auth=auth, retry=FAST) as client:
        for n in range(3):
            assert (await client.json("GET", f"Patient/p{n}"))["id"] == f"p{n}"
    assert len(script.token_calls) == 1
    call = script.token_calls[0]
    assert call["grant_type"] == "client_credentials"
    assert call["scope"] == "system/*.rs"
    assert call["authorization"].startswith("Basic ")
    assert "client_secret" not in call  # Basic: the secret is not in the form
    assert [h["authorization"] for _, _, h in script.seen] == ["Bearer token-1"] * 3
    assert auth.fetched == 1


async def test_client_secret_post_sends_the_credentials_as_form_fields(
    script: Script, origin: str
) -> None:
    script.auth_required = True
    auth = ClientCredentials(f"{origin}/token", CLIENT_ID, SECRET, authentication="post")
    async with FhirClient(f"{origin}/fhir", auth=auth, retry=FAST) as client:
        assert (await client.json("GET", "Patient/p1"))["id"] == "p1"
    assert script.token_calls[0]["client_id"] == CLIENT_ID
    assert script.token_calls[0]["client_secret"] == SECRET
    assert script.token_calls[0]["authorization"] == ""
    assert "scope" not in script.token_calls[0]


async def test_a_401_gets_a_new_token_and_the_request_is_sent_again(
    script: Script, origin: str
) -> None:
    script.auth_required = True
    auth = ClientCredentials(f"{origin}/token", CLIENT_ID, SECRET)
    async with FhirClient(f"{origin}/fhir", auth=auth, retry=FAST) as client:
        assert (await client.json("GET", "Patient/p1"))["id"] == "p1"
        script.valid_tokens.clear()  # the server revokes the token
        assert (await client.json("GET", "Patient/p2"))["id"] == "p2"
    assert len(script.token_calls) == 2
    assert [(p, h["authorization"]) for p, _, h in script.seen] == [
        ("Patient/p1", "Bearer token-1"),
        ("Patient/p2", "Bearer token-1"),
        ("Patient/p2", "Bearer token-2"),
    ]


async def test_a_token_is_renewed_shortly_before_it_expires(script: Script, origin: str) -> None:
    script.auth_required = True
    script.expires_in = 100
    now = [1000.0]
    auth = ClientCredentials(f"{origin}/token", CLIENT_ID, SECRET, clock=lambda: now[0])
    async with FhirClient(f"{origin}/fhir", auth=auth, retry=FAST) as client:
        await client.json("GET", "Patient/p1")
        now[0] += 89  # 11 s left: still used
        await client.json("GET", "Patient/p2")
        assert len(script.token_calls) == 1
        now[0] += 2  # 9 s left, less than a tenth of its lifetime: renewed first
        await client.json("GET", "Patient/p3")
    assert len(script.token_calls) == 2
    assert [h["authorization"] for _, _, h in script.seen] == [
        "Bearer token-1",
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_wrong_credentials_fail_without_showing_the_secret(
    script: Script, origin: str
) -> None:
    script.auth_required = True
    auth = ClientCredentials(f"{origin}/token", CLIENT_ID, "wrong-secret")
    async with FhirClient(f"{origin}/fhir", auth=auth, retry=FAST) as client:
        with pytest.raises(OAuthError) as caught:
            await client.json("GET", "Patient/p1")
    message = str(caught.value)
    assert "401 Unauthorized: invalid_client bad credentials" in message
    assert CLIENT_ID in message
    assert "wrong-secret" not in message
    assert script.seen == []  # the FHIR server was never asked


def test_the_token_url_must_be_https_or_local() -> None:
    assert check_token_url("https://idp.example.se/token") == "https://idp.example.se/token"
    assert check_token_url("http://127.0.0.1:9000/token") == "http://127.0.0.1:9000/token"
    with pytest.raises(ValueError, match="must be https"):
        check_token_url("http://idp.example.se/token")
