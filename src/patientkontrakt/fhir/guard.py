"""What the generic FHIR layer asks of whoever decides access: the Guard protocol.

The FHIR layer knows nothing of tokens, care relations or audit logs; it calls a Guard at every
point where access is decided or recorded, and the security layer implements it. Domain rules
on writes (the patient contract's) plug in as WriteRules. Both reach the interactions through one
RequestScope per request, so a Bundle entry is checked exactly like the same request on its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from patientkontrakt.store.repository import Repository, StoredVersion
from patientkontrakt.store.tables import RowFilter

Interaction = Literal[
    "read", "vread", "search", "history", "create", "update", "patch", "delete", "operation"
]


@dataclass
class Change:
    """One write about to be stored: the current content (None on create) and the new one
    (None on delete). Checks may add to `after` (e.g. who holds the information)."""

    resource_type: str
    resource_id: str
    method: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class Access:
    """A read the guard records: what was reached, and whether it was allowed."""

    interaction: Interaction
    resource_type: str | None
    references: Sequence[str] = ()
    query: str | None = None
    outcome: int = 200
    patients: Sequence[str] = ()
    """Patient ids the access concerned that the references alone do not name."""


class Guard(Protocol):
    """Decides and records access for one request."""

    def require(self, resource_type: str, interaction: Interaction) -> None:
        """Raise (403) unless the caller may perform `interaction` on `resource_type` at all."""

    def patient_context(self) -> str | None:
        """The Patient id the caller acts as (SMART patient context), or None."""

    def visible(self) -> RowFilter | None:
        """The rows the caller may see, for searches, includes, chains, `_has` and history;
        None when everything is visible."""

    async def check_read(self, repo: Repository, stored: StoredVersion) -> None:
        """Raise (404 or 403) unless the caller may read this resource."""

    async def check_write(self, repo: Repository, change: Change) -> None:
        """Raise (403) unless the caller may make this change; may complete `change.after`."""

    async def written(
        self, repo: Repository, change: Change, stored: StoredVersion, interaction: Interaction
    ) -> None:
        """Record a write in its own transaction (AuditEvent, Provenance)."""

    def accessed(self, access: Access) -> None:
        """Note a read; `finish` makes it durable."""

    async def finish(self, status: int) -> None:
        """Make what this request read or attempted durable, before the answer is sent."""


class OpenGuard:
    """Allows everything and records nothing: for the server's own work (loads, seeding)."""

    def require(self, resource_type: str, interaction: Interaction) -> None:
        """Everything is allowed."""

    def patient_context(self) -> str | None:
        """No patient context."""
        return None

    def visible(self) -> RowFilter | None:
        """Everything is visible."""
        return None

    async def check_read(self, repo: Repository, stored: StoredVersion) -> None:
        """Everything is readable."""

    async def check_write(self, repo: Repository, change: Change) -> None:
        """Everything is writable."""

    async def written(
        self, repo: Repository, change: Change, stored: StoredVersion, interaction: Interaction
    ) -> None:
        """Nothing is recorded."""

    def accessed(self, access: Access) -> None:
        """Nothing is recorded."""

    async def finish(self, status: int) -> None:
        """Nothing is recorded."""


def bundle_references(found: dict[str, Any]) -> tuple[str, ...]:
    """`Type/id` of every resource entry of a searchset or history Bundle."""
    references = []
    for entry in found.get("entry", []):
        parts = str(entry.get("fullUrl", "")).rsplit("/", 2)
        if len(parts) == 3:
            references.append(f"{parts[1]}/{parts[2]}")
    return tuple(references)


def search_access(resource_type: str | None, query: str, found: dict[str, Any]) -> Access:
    """The Access a search made: its query and every resource it returned."""
    return Access("search", resource_type, bundle_references(found), query)


def history_access(resource_type: str | None, found: dict[str, Any]) -> Access:
    """The Access a history listing made: every resource whose versions it returned."""
    return Access("history", resource_type, bundle_references(found))


WriteRule = Callable[[Repository, Change], Awaitable[None]]
"""A domain rule checked on every write, in the write's transaction, after validation."""


@dataclass(frozen=True)
class RequestScope:
    """The guard and the write rules one request runs under."""

    guard: Guard = field(default_factory=OpenGuard)
    rules: tuple[WriteRule, ...] = ()

    async def check_write(self, repo: Repository, change: Change) -> None:
        """The guard's check, then every domain rule."""
        await self.guard.check_write(repo, change)
        for rule in self.rules:
            await rule(repo, change)


UNRESTRICTED = RequestScope()
"""No checks, no records: the server's own internal work."""
