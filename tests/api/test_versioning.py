"""Version-aware interactions: If-Match, If-None-Match, If-Modified-Since and paged history."""

from __future__ import annotations

import asyncio
import datetime as dt
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from tests.api import builders
from tests.api.builders import FHIR_JSON, is_provenance, provenance_targets

pytestmark = pytest.mark.anyio

BASE = "http://test/fhir"
PATCH_JSON = {"Content-Type": "application/json-patch+json"}


def assert_outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return body


async def new_patient(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/Patient", json=builders.patient(), headers=FHIR_JSON)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def put_patient(
    client: httpx.AsyncClient, pid: str, headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    body = {**builders.patient(), "id": pid, **extra}
    return await client.put(f"/Patient/{pid}", json=body, headers={**FHIR_JSON, **(headers or {})})


async def current_etag(client: httpx.AsyncClient, pid: str) -> str:
    response = await client.get(f"/Patient/{pid}")
    assert response.status_code == 200
    return response.headers["etag"]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    for item in bundle.get("link", []):
        if item["relation"] == relation:
            return str(item["url"])
    return None


def relative(url: str) -> str:
    """An absolute link of this server as a path relative to the client's base URL."""
    assert url.startswith(BASE + "/"), url
    return url[len(BASE) :]


async def follow_all(client: httpx.AsyncClient, first: str) -> list[dict[str, Any]]:
    """Every page from `first` on, following `next` links to the end."""
    pages: list[dict[str, Any]] = []
    url: str | None = first
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["type"] == "history"
        pages.append(page)
        next_url = link(page, "next")
        url = relative(next_url) if next_url else None
        assert len(pages) < 100, "paging does not end"
    return pages


def version_keys(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["fullUrl"], e["response"]["etag"]) for e in bundle.get("entry", [])]


def data_keys(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    """`version_keys` of the data versions: system history also lists the Provenance each
    write stores, which the callers check with `provenance_targets` instead."""
    return [
        (e["fullUrl"], e["response"]["etag"])
        for e in bundle.get("entry", [])
        if not is_provenance(e)
    ]


def listed(entry: dict[str, Any]) -> str:
    """A history entry's fullUrl, or for a Provenance (random id) the versions it names."""
    if is_provenance(entry):
        return "Provenance of " + ", ".join(provenance_targets([entry]))
    return str(entry["fullUrl"])


# --- If-Match -------------------------------------------------------------------------------


async def test_put_with_matching_if_match_updates(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    response = await put_patient(client, pid, {"If-Match": 'W/"1"'}, active=True)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'
    second = await put_patient(client, pid, {"If-Match": 'W/"2"'}, active=False)
    assert second.status_code == 200, second.text
    assert second.headers["etag"] == 'W/"3"'


async def test_put_with_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    pid = (await new_patient(client))["id"]
    assert (await put_patient(client, pid, active=True)).status_code == 200

    stale = await put_patient(client, pid, {"If-Match": 'W/"1"'}, active=False)

    body = assert_outcome(stale, 412)
    assert body["issue"][0]["severity"] == "error"
    read = (await client.get(f"/Patient/{pid}")).json()
    assert read["meta"]["versionId"] == "2"
    assert read["active"] is True


async def test_put_if_match_on_an_unknown_id_is_412_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await put_patient(client, "tolvan-ny", {"If-Match": 'W/"1"'})
    assert_outcome(response, 412)
    assert (await client.get("/Patient/tolvan-ny")).status_code == 404


@pytest.mark.parametrize("value", ["1", "W/1", 'W/"one"', "banana", 'W/"1" junk', ""])
async def test_malformed_if_match_is_400(client: httpx.AsyncClient, value: str) -> None:
    pid = (await new_patient(client))["id"]
    response = await put_patient(client, pid, {"If-Match": value}, active=True)
    assert_outcome(response, 400)
    assert await current_etag(client, pid) == 'W/"1"'


async def test_patch_with_if_match(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    operations = [{"op": "add", "path": "/active", "value": True}]

    stale = await client.patch(
        f"/Patient/{pid}", json=operations, headers={**PATCH_JSON, "If-Match": 'W/"2"'}
    )
    assert_outcome(stale, 412)
    assert await current_etag(client, pid) == 'W/"1"'

    malformed = await client.patch(
        f"/Patient/{pid}", json=operations, headers={**PATCH_JSON, "If-Match": "version-1"}
    )
    assert_outcome(malformed, 400)

    matching = await client.patch(
        f"/Patient/{pid}", json=operations, headers={**PATCH_JSON, "If-Match": 'W/"1"'}
    )
    assert matching.status_code == 200, matching.text
    assert matching.headers["etag"] == 'W/"2"'
    assert matching.json()["active"] is True


async def test_delete_with_if_match(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]

    stale = await client.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"5"'})
    assert_outcome(stale, 412)
    assert (await client.get(f"/Patient/{pid}")).status_code == 200

    malformed = await client.delete(f"/Patient/{pid}", headers={"If-Match": "*1"})
    assert_outcome(malformed, 400)
    assert (await client.get(f"/Patient/{pid}")).status_code == 200

    matching = await client.delete(f"/Patient/{pid}", headers={"If-Match": 'W/"1"'})
    assert matching.status_code == 204
    assert (await client.get(f"/Patient/{pid}")).status_code == 410


# --- If-None-Match and If-Modified-Since on read -------------------------------------------


@pytest.mark.parametrize("value", ['W/"1"', "*", 'W/"9", W/"1"'])
async def test_if_none_match_current_version_is_304(client: httpx.AsyncClient, value: str) -> None:
    pid = (await new_patient(client))["id"]

    response = await client.get(f"/Patient/{pid}", headers={"If-None-Match": value})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == 'W/"1"'


async def test_if_none_match_other_version_is_200(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    assert (await put_patient(client, pid, active=True)).status_code == 200

    response = await client.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'})

    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'
    assert response.json()["active"] is True


async def test_if_modified_since_not_modified_is_304(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    first = await client.get(f"/Patient/{pid}")
    modified = first.headers["last-modified"]

    response = await client.get(f"/Patient/{pid}", headers={"If-Modified-Since": modified})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"] == modified


async def test_if_modified_since_before_the_change_is_200(client: httpx.AsyncClient) -> None:
    created = await new_patient(client)
    updated = dt.datetime.fromisoformat(created["meta"]["lastUpdated"])
    earlier = updated.replace(microsecond=0) - dt.timedelta(seconds=1)

    response = await client.get(
        f"/Patient/{created['id']}",
        headers={"If-Modified-Since": format_datetime(earlier.astimezone(dt.UTC), usegmt=True)},
    )

    assert response.status_code == 200
    assert response.json() == created


async def test_if_modified_since_after_a_later_update_is_200(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    seen = (await client.get(f"/Patient/{pid}")).headers["last-modified"]
    # HTTP dates have whole seconds: the update must land in a later second to be visible.
    await asyncio.sleep(1.05)
    assert (await put_patient(client, pid, active=True)).status_code == 200

    response = await client.get(f"/Patient/{pid}", headers={"If-Modified-Since": seen})

    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'
    assert parsedate_to_datetime(response.headers["last-modified"]) > parsedate_to_datetime(seen)


async def test_if_none_match_takes_precedence_over_if_modified_since(
    client: httpx.AsyncClient,
) -> None:
    pid = (await new_patient(client))["id"]
    modified = (await client.get(f"/Patient/{pid}")).headers["last-modified"]

    response = await client.get(
        f"/Patient/{pid}", headers={"If-None-Match": 'W/"7"', "If-Modified-Since": modified}
    )

    assert response.status_code == 200


async def test_unparseable_if_modified_since_is_ignored(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    response = await client.get(f"/Patient/{pid}", headers={"If-Modified-Since": "yesterday"})
    assert response.status_code == 200


async def test_conditional_read_of_deleted_is_410(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204
    response = await client.get(f"/Patient/{pid}", headers={"If-None-Match": "*"})
    assert_outcome(response, 410)


# --- history --------------------------------------------------------------------------------


async def test_instance_history_newest_first(client: httpx.AsyncClient) -> None:
    created = await new_patient(client)
    pid = created["id"]
    put = (await put_patient(client, pid, active=True)).json()
    patch = await client.patch(
        f"/Patient/{pid}",
        json=[{"op": "replace", "path": "/active", "value": False}],
        headers=PATCH_JSON,
    )
    assert patch.status_code == 200
    assert (await client.delete(f"/Patient/{pid}")).status_code == 204

    response = await client.get(f"/Patient/{pid}/_history")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json; charset=utf-8"
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "history"
    entries = bundle["entry"]
    assert len(entries) == 4
    assert [e["fullUrl"] for e in entries] == [f"{BASE}/Patient/{pid}"] * 4
    assert [e["request"] for e in entries] == [
        {"method": "DELETE", "url": f"Patient/{pid}"},
        {"method": "PATCH", "url": f"Patient/{pid}"},
        {"method": "PUT", "url": f"Patient/{pid}"},
        {"method": "POST", "url": "Patient"},
    ]
    assert [e["response"]["status"][:3] for e in entries] == ["204", "200", "200", "201"]
    assert [e["response"]["etag"] for e in entries] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    assert "resource" not in entries[0]
    assert entries[1]["resource"] == patch.json()
    assert entries[2]["resource"] == put
    assert entries[3]["resource"] == created
    modified = [dt.datetime.fromisoformat(e["response"]["lastModified"]) for e in entries]
    assert modified == sorted(modified, reverse=True)


async def test_instance_history_of_unknown_is_404(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/Patient/never-was/_history"), 404)


async def test_type_history_holds_only_that_type(client: httpx.AsyncClient) -> None:
    first = (await new_patient(client))["id"]
    organization = await client.post(
        "/Organization", json=builders.organization(), headers=FHIR_JSON
    )
    assert organization.status_code == 201
    second = (await new_patient(client))["id"]
    assert (await put_patient(client, first, active=True)).status_code == 200

    bundle = (await client.get("/Patient/_history")).json()

    assert bundle["type"] == "history"
    assert version_keys(bundle) == [
        (f"{BASE}/Patient/{first}", 'W/"2"'),
        (f"{BASE}/Patient/{second}", 'W/"1"'),
        (f"{BASE}/Patient/{first}", 'W/"1"'),
    ]
    empty = (await client.get("/CareTeam/_history")).json()
    assert empty["type"] == "history"
    assert "entry" not in empty


async def test_system_history_holds_every_type(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    plan = await client.post(
        "/CarePlan", json=builders.care_plan(f"Patient/{pid}"), headers=FHIR_JSON
    )
    assert plan.status_code == 201
    plan_id = plan.json()["id"]
    assert (await client.delete(f"/CarePlan/{plan_id}")).status_code == 204

    response = await client.get("/_history")

    assert response.status_code == 200
    entries = response.json()["entry"]
    # Each write stores its Provenance in the same transaction, so it follows the version.
    assert [(e["request"]["method"], listed(e)) for e in entries] == [
        ("POST", f"Provenance of CarePlan/{plan_id}/_history/2"),
        ("DELETE", f"{BASE}/CarePlan/{plan_id}"),
        ("POST", f"Provenance of CarePlan/{plan_id}/_history/1"),
        ("POST", f"{BASE}/CarePlan/{plan_id}"),
        ("POST", f"Provenance of Patient/{pid}/_history/1"),
        ("POST", f"{BASE}/Patient/{pid}"),
    ]
    assert "resource" not in entries[1]
    assert entries[3]["resource"]["resourceType"] == "CarePlan"
    assert entries[5]["request"]["url"] == "Patient"


async def test_history_paging_follows_next_to_the_end(client: httpx.AsyncClient) -> None:
    ids = [(await new_patient(client))["id"] for _ in range(7)]
    expected = [(f"{BASE}/Patient/{pid}", 'W/"1"') for pid in reversed(ids)]

    pages = await follow_all(client, "/Patient/_history?_count=3")

    assert [len(p.get("entry", [])) for p in pages] == [3, 3, 1]
    seen = [key for page in pages for key in version_keys(page)]
    assert seen == expected
    assert link(pages[-1], "next") is None
    for page in pages:
        assert link(page, "self") is not None


@pytest.mark.parametrize("path", ["/_history", "/Patient/_history"])
async def test_history_paging_with_exact_multiple(client: httpx.AsyncClient, path: str) -> None:
    ids = [(await new_patient(client))["id"] for _ in range(4)]
    pages = await follow_all(client, f"{path}?_count=2")
    entries = [e for page in pages for e in page["entry"]]
    assert [len(page["entry"]) for page in pages] == [2] * (len(entries) // 2)
    seen = [key for page in pages for key in data_keys(page)]
    assert seen == [(f"{BASE}/Patient/{pid}", 'W/"1"') for pid in reversed(ids)]
    if path == "/_history":
        targets = [f"Patient/{pid}/_history/1" for pid in reversed(ids)]
        assert provenance_targets(entries) == targets


async def test_instance_history_paging(client: httpx.AsyncClient) -> None:
    pid = (await new_patient(client))["id"]
    for active in (True, False, True, False):
        assert (await put_patient(client, pid, active=active)).status_code == 200

    pages = await follow_all(client, f"/Patient/{pid}/_history?_count=2")

    etags = [etag for page in pages for _, etag in version_keys(page)]
    assert etags == ['W/"5"', 'W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']


async def test_history_pages_stay_right_when_resources_are_added(
    client: httpx.AsyncClient,
) -> None:
    ids = [(await new_patient(client))["id"] for _ in range(6)]
    first = (await client.get("/Patient/_history?_count=2")).json()
    assert version_keys(first) == [(f"{BASE}/Patient/{pid}", 'W/"1"') for pid in ids[:-3:-1]]

    # Writes between page fetches; an offset would shift the following pages.
    newcomers = [(await new_patient(client))["id"] for _ in range(3)]
    assert (await put_patient(client, ids[5], active=True)).status_code == 200

    next_url = link(first, "next")
    assert next_url is not None
    rest = await follow_all(client, relative(next_url))

    seen = version_keys(first) + [key for page in rest for key in version_keys(page)]
    assert seen == [(f"{BASE}/Patient/{pid}", 'W/"1"') for pid in reversed(ids)]
    assert not {f"{BASE}/Patient/{pid}" for pid in newcomers} & {url for url, _ in seen}


def _with_page(next_url: str, token: str) -> str:
    parts = urlsplit(next_url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query) if k != "_page"]
    return relative(f"{BASE}{parts.path[len('/fhir') :]}?" + urlencode([*pairs, ("_page", token)]))


def _page_token(next_url: str) -> str:
    return dict(parse_qsl(urlsplit(next_url).query))["_page"]


async def test_tampered_page_is_400(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await new_patient(client)
    first = (await client.get("/Patient/_history?_count=1")).json()
    next_url = link(first, "next")
    assert next_url is not None
    token = _page_token(next_url)
    flipped = ("A" if token[5] != "A" else "B").join((token[:5], token[6:]))

    for bad in (flipped, token + "x", "not-a-cursor", token.split(".")[0]):
        response = await client.get(_with_page(next_url, bad))
        body = assert_outcome(response, 400)
        assert body["issue"][0]["code"] == "invalid"


async def test_page_of_another_query_is_400(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await new_patient(client)
    first = (await client.get("/Patient/_history?_count=1")).json()
    next_url = link(first, "next")
    assert next_url is not None
    token = _page_token(next_url)

    other_type = await client.get("/Organization/_history", params={"_count": 1, "_page": token})
    assert_outcome(other_type, 400)
    other_count = await client.get("/Patient/_history", params={"_count": 2, "_page": token})
    assert_outcome(other_count, 400)


async def test_history_since(client: httpx.AsyncClient) -> None:
    old = await new_patient(client)
    await asyncio.sleep(0.01)
    new = await new_patient(client)
    since = new["meta"]["lastUpdated"]
    assert dt.datetime.fromisoformat(since) > dt.datetime.fromisoformat(old["meta"]["lastUpdated"])

    response = await client.get("/Patient/_history", params={"_since": since})

    assert response.status_code == 200, response.text
    assert version_keys(response.json()) == [(f"{BASE}/Patient/{new['id']}", 'W/"1"')]

    # The same instant with another offset means the same moment.
    moment = dt.datetime.fromisoformat(since).astimezone(dt.timezone(dt.timedelta(hours=2)))
    shifted = (await client.get("/_history", params={"_since": moment.isoformat()})).json()
    assert data_keys(shifted) == [(f"{BASE}/Patient/{new['id']}", 'W/"1"')]
    assert provenance_targets(shifted["entry"]) == [f"Patient/{new['id']}/_history/1"]

    everything = (await client.get("/_history", params={"_since": "2000-01-01T00:00:00Z"})).json()
    assert [listed(e) for e in everything["entry"]] == [
        f"Provenance of Patient/{new['id']}/_history/1",
        f"{BASE}/Patient/{new['id']}",
        f"Provenance of Patient/{old['id']}/_history/1",
        f"{BASE}/Patient/{old['id']}",
    ]
    future = (await client.get("/_history", params={"_since": "2999-01-01T00:00:00Z"})).json()
    assert "entry" not in future


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "12:00",
        "2026-02-30",
        "2026-01-01T00:00:00+25:00",
        # Local time in Stockholm before year 1 in UTC: outside what an instant can be.
        "0001-01-01T00:00:00",
        "0001-01-01T00:00:00+01:00",
    ],
)
async def test_history_since_garbage_is_400(client: httpx.AsyncClient, value: str) -> None:
    assert_outcome(await client.get("/_history", params={"_since": value}), 400)


async def test_history_since_the_earliest_instant_is_everything(
    client: httpx.AsyncClient,
) -> None:
    pid = (await new_patient(client))["id"]
    response = await client.get("/_history", params={"_since": "0001-01-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    assert [listed(e) for e in response.json()["entry"]] == [
        f"Provenance of Patient/{pid}/_history/1",
        f"{BASE}/Patient/{pid}",
    ]


@pytest.mark.parametrize("query", ["_at=2026", "foo=bar", "_list=x", "_sort=_lastUpdated"])
async def test_unsupported_history_parameter_is_400(client: httpx.AsyncClient, query: str) -> None:
    pid = (await new_patient(client))["id"]
    for path in ("/_history", "/Patient/_history", f"/Patient/{pid}/_history"):
        assert_outcome(await client.get(f"{path}?{query}"), 400)


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "²", "١"])
async def test_history_bad_count_is_400(client: httpx.AsyncClient, value: str) -> None:
    assert_outcome(await client.get("/_history", params={"_count": value}), 400)


# --- concurrent writers ---------------------------------------------------------------------


async def test_concurrent_updates_with_the_same_if_match_let_one_win(
    client: httpx.AsyncClient,
) -> None:
    pid = (await new_patient(client))["id"]

    responses = await asyncio.gather(
        *(
            put_patient(client, pid, {"If-Match": 'W/"1"'}, gender=gender)
            for gender in ("male", "female", "other", "unknown")
        )
    )

    statuses = [r.status_code for r in responses]
    # One wins; the others find version 2 (412) or lose the race to write it (409).
    assert statuses.count(200) == 1, [r.text for r in responses]
    assert {s for s in statuses if s != 200} <= {409, 412}
    winner = next(r for r in responses if r.status_code == 200)
    read = (await client.get(f"/Patient/{pid}")).json()
    assert read["meta"]["versionId"] == "2"
    assert read["gender"] == winner.json()["gender"]


async def test_concurrent_updates_without_if_match_all_get_their_own_version(
    client: httpx.AsyncClient,
) -> None:
    pid = (await new_patient(client))["id"]

    responses = await asyncio.gather(
        *(put_patient(client, pid, active=i % 2 == 0) for i in range(5))
    )

    # Each succeeds as its own version, or loses cleanly with 409 (retry); nothing else.
    assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
    won = [r for r in responses if r.status_code == 200]
    assert won
    etags = sorted(r.headers["etag"] for r in won)
    assert len(set(etags)) == len(etags)
    history = (await client.get(f"/Patient/{pid}/_history")).json()
    versions = [e["response"]["etag"] for e in history["entry"]]
    assert versions == [f'W/"{n}"' for n in range(len(won) + 1, 0, -1)]
