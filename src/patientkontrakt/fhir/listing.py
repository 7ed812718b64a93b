"""History interactions: pages of stored versions as Bundles, and the paging context.

History pages with signed cursors (`paging.py`), so `next` links stay right while data changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from patientkontrakt.fhir.bundles import bundle, history_entries
from patientkontrakt.fhir.paging import PAGE_PARAM, PageSigner, count_value, page_url, query_key
from patientkontrakt.fhir.registry import SERVER_WRITTEN_TYPES
from patientkontrakt.outcomes import bad_request, not_supported
from patientkontrakt.store.repository import Repository
from patientkontrakt.store.tables import RowFilter

STOCKHOLM = ZoneInfo("Europe/Stockholm")
_HISTORY_PARAMS = frozenset({"_count", PAGE_PARAM, "_format", "_pretty", "_since"})


@dataclass(frozen=True)
class Paging:
    """What listing needs from the server: where it lives, its limits and its cursor signer."""

    base: str
    signer: PageSigner
    default_count: int
    max_count: int


def parse_count(pairs: list[tuple[str, str]], paging: Paging) -> int:
    """`_count` (default and maximum from settings); 400 when not a whole number >= 0."""
    raw = [v for k, v in pairs if k == "_count"]
    return count_value(raw[-1], paging.max_count) if raw else paging.default_count


def parse_instant(value: str, name: str) -> dt.datetime:
    """A FHIR instant or dateTime; without a zone it is read as Swedish local time."""
    try:
        if len(value) == 4 and value.isdigit():
            moment = dt.datetime(int(value), 1, 1)
        elif len(value) == 7:
            moment = dt.datetime.strptime(value, "%Y-%m")
        else:
            moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise bad_request(f"{name}={value!r} is not a valid instant", name) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=STOCKHOLM)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise bad_request(f"{name}={value!r} is out of range", name) from exc


def _links(
    paging: Paging,
    path: str,
    pairs: list[tuple[str, str]],
    next_position: dict[str, Any] | None,
) -> dict[str, str]:
    self_url = f"{paging.base}/{path}"
    if pairs:
        self_url += "?" + urlencode(pairs)
    links = {"self": self_url}
    if next_position is not None:
        token = paging.signer.sign(query_key(path, pairs), next_position)
        links["next"] = page_url(paging.base, path, pairs, token)
    return links


def _position(pairs: list[tuple[str, str]], paging: Paging, path: str) -> dict[str, Any]:
    tokens = [v for k, v in pairs if k == PAGE_PARAM]
    if not tokens:
        return {}
    return paging.signer.verify(query_key(path, pairs), tokens[-1])


async def history(
    repo: Repository,
    pairs: list[tuple[str, str]],
    paging: Paging,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    visible: RowFilter | None = None,
) -> dict[str, Any]:
    """History at system, type or instance level, newest first (http.html#history);
    `visible`: the resources the caller may see."""
    unknown = sorted({k for k, _ in pairs} - _HISTORY_PARAMS)
    if unknown:
        raise not_supported(f"History does not support {', '.join(unknown)}; use _count and _since")
    path = "/".join(p for p in (resource_type, resource_id, "_history") if p)
    since_values = [v for k, v in pairs if k == "_since"]
    since = parse_instant(since_values[-1], "_since") if since_values else None
    count = parse_count(pairs, paging)
    before = _position(pairs, paging, path).get("before")
    if before is not None and not isinstance(before, int):
        raise bad_request("The _page link is not valid for this query")
    versions = (
        await repo.history(
            resource_type=resource_type,
            resource_id=resource_id,
            since=since,
            before_seq=before,
            count=count + 1,
            visible=visible,
            # The audit trail grows with every read; it has its own history, not the system's.
            excluded_types=tuple(SERVER_WRITTEN_TYPES),
        )
        if count
        else []
    )
    more = len(versions) > count
    page = versions[:count]
    next_position = {"before": page[-1].seq} if more and page else None
    links = _links(paging, path, pairs, next_position)
    return bundle("history", history_entries(paging.base, page), links)
