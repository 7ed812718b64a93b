"""A FHIR server the differential suite speaks to, by its base URL: ours or HAPI FHIR."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from tests.interop import dataset

FHIR_JSON = "application/fhir+json"
MAX_PAGES = 200
"""A search that pages further than this is a paging loop, not data."""


@dataclass(frozen=True)
class Answer:
    """What a search found, paged to the end, restricted to the dataset's resources.

    `matches` keeps the order of the pages; `included` is a set, as the spec gives no order for
    included resources; `resources` holds each of them by (type, id)."""

    matches: tuple[tuple[str, str], ...]
    included: frozenset[tuple[str, str]]
    resources: dict[tuple[str, str], dict[str, Any]] = field(repr=False)
    pages: int


@dataclass
class Peer:
    """One server: its name, base URL and the headers it needs (our server wants a token)."""

    name: str
    base: str
    headers: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            headers={"Accept": FHIR_JSON, **self.headers},
            timeout=120,
        )

    def load(self, bundle: dict[str, Any]) -> httpx.Response:
        """POST a transaction Bundle to the base."""
        with self.client() as client:
            return client.post("", json=bundle, headers={"Content-Type": FHIR_JSON})

    def search(self, query: str) -> Answer:
        """GET `query` (relative to the base) and every `next` page after it."""
        matches: list[tuple[str, str]] = []
        included: set[tuple[str, str]] = set()
        resources: dict[tuple[str, str], dict[str, Any]] = {}
        url: str | None = f"{self.base}/{query}"
        pages = 0
        with self.client() as client:
            while url is not None:
                pages += 1
                assert pages <= MAX_PAGES, f"{self.name}: more than {MAX_PAGES} pages for {query}"
                response = client.get(url)
                assert response.status_code == 200, f"{self.name} {query}: {response.text}"
                bundle = response.json()
                assert bundle["resourceType"] == "Bundle", bundle
                for entry in bundle.get("entry", []):
                    resource = entry["resource"]
                    key = (resource["resourceType"], resource.get("id", ""))
                    if key not in dataset.resource_keys():
                        continue
                    resources[key] = resource
                    if entry.get("search", {}).get("mode", "match") == "match":
                        matches.append(key)
                    else:
                        included.add(key)
                url = _next_link(bundle, self.base)
        return Answer(tuple(matches), frozenset(included), resources, pages)


def _next_link(bundle: dict[str, Any], base: str) -> str | None:
    for link in bundle.get("link", []):
        if link.get("relation") == "next":
            return urljoin(f"{base}/", link["url"])
    return None
