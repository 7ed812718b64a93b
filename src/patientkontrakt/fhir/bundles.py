"""Bundles assembled from stored bytes: searchset and history (bundle.html).

Each resource's stored JSON is embedded as an `orjson.Fragment`, so a page of 50 resources is
one `orjson.dumps` over small dicts, never a parse of the resources themselves.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from patientkontrakt.store.repository import StoredVersion, format_instant

_STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content"}


def status_line(status: int) -> str:
    """`201 Created` and the like, for Bundle.entry.response.status."""
    return _STATUS_TEXT.get(status, str(status))


def bundle(kind: str, entries: list[dict[str, Any]], links: dict[str, str]) -> dict[str, Any]:
    """A Bundle of `kind` with `links` (relation to URL) and `entries`."""
    out: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(dt.datetime.now(dt.UTC))},
        "type": kind,
    }
    if links:
        out["link"] = [{"relation": rel, "url": url} for rel, url in links.items()]
    if entries:
        out["entry"] = entries
    return out


def resource_fragment(stored: StoredVersion) -> orjson.Fragment:
    """The stored bytes of a version, embedded as they are."""
    assert stored.content is not None
    return orjson.Fragment(stored.content)


def history_entries(base: str, versions: Sequence[StoredVersion]) -> list[dict[str, Any]]:
    """History entries: each version with the request that made it and its response."""
    entries: list[dict[str, Any]] = []
    for v in versions:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{v.reference}"}
        if not v.deleted:
            entry["resource"] = resource_fragment(v)
        method = v.method or "PUT"
        status = 204 if v.deleted else (201 if v.version_id == 1 else 200)
        entry["request"] = {
            "method": method,
            "url": v.resource_type if method == "POST" else v.reference,
        }
        entry["response"] = {
            "status": status_line(status),
            "etag": v.etag,
            "lastModified": format_instant(v.last_updated),
        }
        entries.append(entry)
    return entries
