"""The resources gathered for one patient's contract, found by reference.

Each resource is kept twice: parsed, for the narrative, and as the stored bytes the searches
served, which the document Bundle embeds unchanged (DESIGN.md, performance rules).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

import orjson


class Pool:
    """Resources by `Type/id`; references are resolved relative to `base` (references.html)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self._parsed: dict[str, dict[str, Any]] = {}
        self._stored: dict[str, orjson.Fragment] = {}

    def add_searchset(
        self, found: dict[str, Any], only: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Keep every resource of a searchset Bundle (or those of them `only` names); the
        matches kept, parsed, in the order served."""
        entries = [e for e in found.get("entry", []) if "resource" in e and "fullUrl" in e]
        # The entries embed stored bytes as orjson Fragments: one dump and parse reads them all.
        parsed = orjson.loads(orjson.dumps(entries))
        matches = []
        for entry, copy in zip(entries, parsed, strict=True):
            key = self.key(entry["fullUrl"])
            if key is None or copy.get("resource", {}).get("resourceType") == "OperationOutcome":
                continue
            if only is not None and key not in only:
                continue
            self._parsed.setdefault(key, copy["resource"])
            self._stored.setdefault(key, entry["resource"])
            if entry.get("search", {}).get("mode") == "match":
                matches.append(self._parsed[key])
        return matches

    def add(self, key: str, resource: dict[str, Any], stored: bytes) -> None:
        """Keep one resource read on its own (the Patient)."""
        self._parsed[key] = resource
        self._stored[key] = orjson.Fragment(stored)

    def key(self, reference: object) -> str | None:
        """`Type/id` of a local reference (a Reference, a relative or an absolute URL on this
        server), or None for a contained, logical or external reference."""
        if isinstance(reference, dict):
            reference = reference.get("reference")
        if not isinstance(reference, str) or not reference or reference.startswith("#"):
            return None
        if reference.startswith(self.base + "/"):
            reference = reference[len(self.base) + 1 :]
        elif "://" in reference or reference.startswith("urn:"):
            return None
        parts = reference.split("/")
        if len(parts) == 4 and parts[2] == "_history":
            parts = parts[:2]
        return f"{parts[0]}/{parts[1]}" if len(parts) == 2 and all(parts) else None

    def get(self, reference: object) -> dict[str, Any] | None:
        """The gathered resource a reference points at, or None."""
        key = self.key(reference)
        return self._parsed.get(key) if key is not None else None

    def stored(self, key: str) -> orjson.Fragment:
        """The stored bytes of a gathered resource."""
        return self._stored[key]

    def __iter__(self) -> Iterator[str]:
        """`Type/id` of every gathered resource."""
        return iter(list(self._parsed))

    def __contains__(self, key: object) -> bool:
        return key in self._parsed

    def drop(self, key: str) -> None:
        """Forget a resource (a plan patient-facing use may not show)."""
        self._parsed.pop(key, None)
        self._stored.pop(key, None)

    def references_of(self, key: str) -> Iterator[str]:
        """`Type/id` of every local reference inside a gathered resource."""
        yield from _references(self._parsed.get(key), self)


def _references(value: Any, pool: Pool) -> Iterator[str]:
    if isinstance(value, dict):
        for name, item in value.items():
            if name == "reference" and isinstance(item, str):
                key = pool.key(item)
                if key is not None:
                    yield key
            else:
                yield from _references(item, pool)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item, pool)
