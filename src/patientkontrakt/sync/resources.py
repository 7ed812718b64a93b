"""What push and pull share: which identifier keys a resource, and how references move.

Both directions write with conditional interactions keyed on an identifier
(transaction.html#conditional), so that doing it twice changes nothing twice:

- a resource with a business identifier is keyed on it (personnummer and the other Swedish
  person numbers first, then HSA-id, organisationsnummer, then the first identifier that has a
  system and a value);
- a resource without one gets an identifier made of where it comes from: on push
  `<canonical base>/identifier/<Type>` with our logical id as value, on pull
  `<source base>/<Type>` with the source's logical id;
- two resources of one type in one Bundle sharing a key (a practitioner and two roles with one
  HSA-id) are both keyed on the made identifier instead, so no two entries match alike.

People and directory data (Patient, Practitioner, PractitionerRole, Organization, Location) are
*linked*, never overwritten: a conditional create (`ifNoneExist`) uses the one the other side
has. The contract's own resources (CarePlan, CareTeam, Goal, Appointment, Condition, ...) are
conditional updates: the copy follows its original.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from patientkontrakt.contract.vocabulary import (
    HSA_ID,
    HSA_ID_RIVTA,
    ORGANISATIONSNUMMER,
    PERSONNUMMER,
    RESERVNUMMER,
    SAMORDNINGSNUMMER,
)

PREFERRED_SYSTEMS = (
    PERSONNUMMER,
    SAMORDNINGSNUMMER,
    RESERVNUMMER,
    HSA_ID,
    HSA_ID_RIVTA,
    ORGANISATIONSNUMMER,
)
"""Identifier systems that key a resource before any other, in this order."""

LINKED_TYPES = frozenset(
    {"Patient", "Practitioner", "PractitionerRole", "Organization", "Location"}
)
"""Types written with a conditional create: an existing match is used, never overwritten."""

_REFERENCE = re.compile(
    r"^(?:(?P<base>https?://.+)/)?(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)
_SERVER_META = ("versionId", "lastUpdated", "source")

Key = tuple[str, str]
"""(`Type`, `id`) of a resource."""


@dataclass(frozen=True)
class Reference:
    """A literal reference split up: `base` is None for a relative one."""

    base: str | None
    resource_type: str
    resource_id: str

    @property
    def key(self) -> Key:
        return self.resource_type, self.resource_id


def parse_reference(text: str) -> Reference | None:
    """`Type/id`, `base/Type/id` and either with `/_history/n`; None for contained (`#x`),
    `urn:` and conditional references, which name no resource of a server."""
    match = _REFERENCE.match(text)
    if match is None:
        return None
    return Reference(match["base"], match["type"], match["id"])


def reference_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in `node` holding a string `reference` (Reference elements, anywhere:
    extensions and contained resources too)."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node
        for value in node.values():
            yield from reference_nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from reference_nodes(item)


def rewrite_references(node: Any, rewrite: Callable[[str], str | None]) -> None:
    """Replace each `reference` by `rewrite(reference)`, unless that gives None."""
    for holder in reference_nodes(node):
        replaced = rewrite(holder["reference"])
        if replaced is not None:
            holder["reference"] = replaced


def portable_copy(resource: dict[str, Any]) -> dict[str, Any]:
    """A copy to send elsewhere: no id and no meta the storing server sets itself (versionId,
    lastUpdated, source); tags, security labels and profiles stay."""
    body = copy.deepcopy(resource)
    body.pop("id", None)
    meta = body.get("meta")
    if isinstance(meta, dict):
        for name in _SERVER_META:
            meta.pop(name, None)
        if not meta:
            del body["meta"]
    return body


def business_identifier(resource: dict[str, Any]) -> tuple[str, str] | None:
    """(system, value) of the identifier that keys `resource`, or None without one."""
    found: list[tuple[str, str]] = []
    identifiers = resource.get("identifier")
    for item in identifiers if isinstance(identifiers, list) else []:
        if not isinstance(item, dict):
            continue
        system, value = item.get("system"), item.get("value")
        if isinstance(system, str) and isinstance(value, str) and system and value:
            found.append((system, value))
    for preferred in PREFERRED_SYSTEMS:
        for system, value in found:
            if system == preferred:
                return system, value
    return found[0] if found else None


def _escape(text: str) -> str:
    """A token search value's special characters escaped (search.html#escaping)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,").replace("$", "\\$")


def identifier_criteria(system: str, value: str) -> str:
    """`identifier=system|value` as a URL query, encoded."""
    return urlencode({"identifier": f"{_escape(system)}|{_escape(value)}"})


@dataclass
class Keyed:
    """One resource as a Bundle entry will write it."""

    resource_type: str
    source_id: str
    body: dict[str, Any]
    """The portable copy that is sent (references not yet rewritten)."""
    system: str
    value: str
    full_url: str
    local_id: str | None = None
    """Set when the resource is known to be ours under this id: written with `PUT Type/id`."""

    @property
    def key(self) -> Key:
        return self.resource_type, self.source_id

    @property
    def criteria(self) -> str:
        return identifier_criteria(self.system, self.value)

    def entry(self) -> dict[str, Any]:
        """The transaction entry: a conditional create for linked types, else a conditional
        update; `PUT Type/id` for one whose id is known."""
        request: dict[str, Any]
        if self.local_id is not None:
            self.body["id"] = self.local_id
            request = {"method": "PUT", "url": f"{self.resource_type}/{self.local_id}"}
        elif self.resource_type in LINKED_TYPES:
            request = {"method": "POST", "url": self.resource_type, "ifNoneExist": self.criteria}
        else:
            request = {"method": "PUT", "url": f"{self.resource_type}?{self.criteria}"}
        return {"fullUrl": self.full_url, "resource": self.body, "request": request}


def key_resources(
    resources: list[dict[str, Any]], made_system: Callable[[str], str]
) -> list[Keyed]:
    """Each resource (with `id`) keyed as the module docstring says; `made_system(Type)` is the
    system of the identifier made for one without a usable business identifier. The made
    identifier is added to the copy, so the other side can find it next time."""
    chosen = [business_identifier(r) for r in resources]
    counts = Counter((r["resourceType"], c) for r, c in zip(resources, chosen, strict=True) if c)
    keyed = []
    for resource, identifier in zip(resources, chosen, strict=True):
        resource_type, source_id = str(resource["resourceType"]), str(resource["id"])
        body = portable_copy(resource)
        if identifier is None or counts[(resource_type, identifier)] > 1:
            identifier = (made_system(resource_type), source_id)
            own = {"system": identifier[0], "value": identifier[1]}
            existing = body.get("identifier")
            if not isinstance(existing, list) or own not in existing:
                body["identifier"] = [*(existing if isinstance(existing, list) else []), own]
        keyed.append(
            Keyed(resource_type, source_id, body, *identifier, full_url=f"urn:uuid:{uuid.uuid4()}")
        )
    return keyed


def entry_outcome(entry: dict[str, Any], response: dict[str, Any]) -> str:
    """`created`, `updated` or `unchanged` for one transaction entry and its response.

    201 is a creation. A 200 to a conditional create is the match found (unchanged); a 200 to
    an update is an update, unless the server says it changed nothing (HAPI FHIR reports
    `SUCCESSFUL_UPDATE_NO_CHANGE` and the like in `response.outcome`).
    """
    status = str(response.get("response", {}).get("status", ""))
    if status.startswith("201"):
        return "created"
    if entry.get("request", {}).get("method") == "POST":
        return "unchanged"
    outcome = response.get("response", {}).get("outcome")
    codes = [
        str(coding.get("code", ""))
        for issue in (outcome or {}).get("issue", [])
        for coding in (issue.get("details") or {}).get("coding", [])
    ]
    if any(code.endswith("NO_CHANGE") for code in codes):
        return "unchanged"
    return "updated"


_NUMBER = re.compile(r"(?:[0-9]{8})[-+]?[0-9]{4}")


def patient_identifier(text: str) -> tuple[str, str]:
    """(system, value) from `system|value`, or from a bare 12-digit personnummer
    (`191212121212`, `19121212-1212`); one whose day is 61-91 is a samordningsnummer."""
    text = text.strip()
    if "|" in text:
        system, _, value = text.partition("|")
        if not system or not value:
            raise ValueError(f"{text!r}: give system|value, both parts")
        return system, value
    if not _NUMBER.fullmatch(text):
        raise ValueError(
            f"{text!r} is neither system|value nor a 12-digit personnummer (YYYYMMDDNNNC)"
        )
    digits = text.replace("-", "").replace("+", "")
    return (SAMORDNINGSNUMMER if int(digits[6:8]) > 60 else PERSONNUMMER), digits
