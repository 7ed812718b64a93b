"""A small FHIR REST client for another server: timeouts, retries with backoff, paging.

Requests that get 429 Too Many Requests, 502, 503 or 504, or that fail to connect or time out,
are tried again after a pause: the server's `Retry-After` (seconds or an HTTP date) when it
sends one, otherwise exponential backoff (`base_delay` doubled per attempt, at most
`max_delay`) with jitter, so that many clients do not come back at the same moment. Every
request the sync makes is safe to repeat: reads, and transactions of conditional creates and
updates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

FHIR_JSON = "application/fhir+json"
_random = secrets.SystemRandom()


class SyncError(Exception):
    """A request to the other server failed for good (after any retries)."""


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a request again."""

    retries: int = 4
    """Tries after the first; 0 turns retrying off."""
    base_delay: float = 0.5
    """Seconds before the first retry without Retry-After; doubled on each further one."""
    max_delay: float = 30.0
    """The longest backoff pause."""
    max_retry_after: float = 120.0
    """The longest `Retry-After` honoured; a longer one is cut to this."""
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def backoff(self, attempt: int) -> float:
        """The pause before retry `attempt` (1, 2, ...): exponential, with jitter (a random
        point in the upper half of the step)."""
        step = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return step / 2 + _random.uniform(0, step / 2)

    def retry_after(self, response: httpx.Response) -> float | None:
        """The pause `Retry-After` asks for, if it asks for one."""
        value = response.headers.get("retry-after")
        if value is None:
            return None
        value = value.strip()
        if value.isdigit():
            return min(float(value), self.max_retry_after)
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        seconds = (moment - dt.datetime.now(dt.UTC)).total_seconds()
        return min(max(seconds, 0.0), self.max_retry_after)


def outcome_text(response: httpx.Response) -> str:
    """The diagnostics of an OperationOutcome answer, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = body["issue"] if isinstance(body.get("issue"), list) else []
        texts = [
            str(issue.get("diagnostics") or (issue.get("details") or {}).get("text") or "")
            for issue in issues
            if isinstance(issue, dict)
        ]
        return "; ".join(t for t in texts if t) or "OperationOutcome without diagnostics"
    return response.text[:300]


class FhirClient:
    """The REST API of one FHIR server at `base_url` (e.g. `http://127.0.0.1:8090/fhir`)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{base_url!r} is not an http(s) base URL")
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self._http = httpx.AsyncClient(
            auth=auth,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": FHIR_JSON},
            follow_redirects=False,
        )

    async def __aenter__(self) -> FhirClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    def url(self, path: str) -> str:
        """`path` below the base (`Patient/1`), or an absolute URL on this server."""
        if path.startswith(("http://", "https://")):
            return self._own(path)
        if not path:
            return self.base_url
        return f"{self.base_url}/{path.lstrip('/')}"

    def _own(self, url: str) -> str:
        """`url` if it is on this server. Some servers (HAPI FHIR behind a proxy or in a
        container) write links with their configured address rather than the one we call: a
        link whose path starts with the base's path is taken onto our base. Any other host is
        refused, so that our credentials never go elsewhere."""
        if url == self.base_url or url.startswith(self.base_url + "/"):
            return url
        if url.startswith(self.base_url + "?"):
            return url
        base_path = urlsplit(self.base_url).path.rstrip("/")
        parts = urlsplit(url)
        if parts.path == base_path or parts.path.startswith(base_path + "/"):
            rest = parts.path[len(base_path) :]
            return self.base_url + rest + (f"?{parts.query}" if parts.query else "")
        raise SyncError(f"{url} is not on the server {self.base_url}; not followed")

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request, retrying as the module docstring says; the last answer (which
        may be an error status) or SyncError when the server could not be reached at all."""
        url = self.url(path)
        headers = {"Content-Type": FHIR_JSON} if json is not None else None
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method, url, params=params, json=json, data=data, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt >= self.retry.retries:
                    raise SyncError(
                        f"{method} {url}: {type(exc).__name__}: {exc or 'no answer'} "
                        f"(after {attempt + 1} tries)"
                    ) from exc
                attempt += 1
                await self._pause(
                    self.retry.backoff(attempt), f"{type(exc).__name__}", method, url, attempt
                )
                continue
            if response.status_code not in self.retry.statuses or attempt >= self.retry.retries:
                return response
            attempt += 1
            delay = self.retry.retry_after(response)
            if delay is None:
                delay = self.retry.backoff(attempt)
            await self._pause(delay, str(response.status_code), method, url, attempt)

    async def _pause(self, delay: float, why: str, method: str, url: str, attempt: int) -> None:
        if self.on_retry is not None:
            self.on_retry(
                f"{why} from {method} {url.split('?')[0]}: retry {attempt} of "
                f"{self.retry.retries} in {delay:.1f} s"
            )
        await asyncio.sleep(delay)

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The JSON object of a successful answer; SyncError with the server's diagnostics
        otherwise."""
        response = await self.request(method, path, params=params, json=json, data=data)
        if not response.is_success:
            raise SyncError(
                f"{method} {self.url(path).split('?')[0]}: {response.status_code} "
                f"{response.reason_phrase}: {outcome_text(response)}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise SyncError(f"{method} {self.url(path)}: the answer is not JSON") from exc
        if not isinstance(body, dict):
            raise SyncError(f"{method} {self.url(path)}: the answer is not a JSON object")
        return body

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """`GET Type/id`; None when the server says 404 or 410 (gone, or not shown to us)."""
        response = await self.request("GET", f"{resource_type}/{resource_id}")
        if response.status_code in (404, 410):
            return None
        if not response.is_success:
            raise SyncError(
                f"GET {resource_type}/{resource_id}: {response.status_code} "
                f"{response.reason_phrase}: {outcome_text(response)}"
            )
        body = response.json()
        if not isinstance(body, dict) or body.get("resourceType") != resource_type:
            raise SyncError(f"GET {resource_type}/{resource_id}: not a {resource_type}")
        return body

    async def pages(
        self, resource_type: str, params: dict[str, str], *, post: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Each page (searchset Bundle) of a search, following `link[relation=next]` to the
        end. `post` searches with `POST Type/_search` and a form body, which keeps the criteria
        (a personnummer) out of the other server's access log."""
        page = (
            await self.json("POST", f"{resource_type}/_search", data=params)
            if post
            else await self.json("GET", resource_type, params=params)
        )
        seen: set[str] = set()
        while True:
            if page.get("resourceType") != "Bundle":
                raise SyncError(f"search {resource_type}: the answer is not a Bundle")
            yield page
            following = next_link(page)
            if following is None:
                return
            if following in seen:
                raise SyncError(f"search {resource_type}: the next link repeats itself")
            seen.add(following)
            page = await self.json("GET", following)

    async def search_all(
        self, resource_type: str, params: dict[str, str], *, post: bool = False
    ) -> list[dict[str, Any]]:
        """The matches of a search over all its pages (entries with `search.mode` `match`, or
        no mode), each once."""
        found: dict[str, dict[str, Any]] = {}
        async for page in self.pages(resource_type, params, post=post):
            for entry in page.get("entry", []):
                resource = entry.get("resource") if isinstance(entry, dict) else None
                mode = (entry.get("search") or {}).get("mode", "match")
                if (
                    isinstance(resource, dict)
                    and resource.get("resourceType") == resource_type
                    and mode == "match"
                    and isinstance(resource.get("id"), str)
                ):
                    found.setdefault(resource["id"], resource)
        return list(found.values())

    async def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """POST a transaction Bundle to the base; the transaction-response Bundle."""
        answer = await self.json("POST", "", json=bundle)
        if answer.get("resourceType") != "Bundle":
            raise SyncError("the transaction's answer is not a Bundle")
        return answer


def next_link(page: dict[str, Any]) -> str | None:
    """The `next` link of a searchset Bundle, or None on the last page."""
    for link in page.get("link", []):
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None
