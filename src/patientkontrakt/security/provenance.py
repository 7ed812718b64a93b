"""Provenance of writes: who wrote which version, when, why, and on whose behalf.

A client may describe a write's origin in the `X-Provenance` header (http.html#provenance): a
Provenance resource without target, which the server completes with the versions written. The
server always records the authenticated caller as an agent, so the header can add detail (the
clinician who authored a change an EHR integration enters, a reason, source entities) but never
hide who wrote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from patientkontrakt.outcomes import bad_request, error
from patientkontrakt.security.audit import caller_reference, purpose_of_event
from patientkontrakt.security.principal import Principal
from patientkontrakt.store.repository import StoredVersion, format_instant
from patientkontrakt.validation.base import validate_resource

DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"

Activity = Literal["CREATE", "UPDATE", "DELETE"]
"""The v3-DataOperation codes a write's `activity` takes."""
_ACTIVITY_DISPLAY = {"CREATE": "create", "UPDATE": "revise", "DELETE": "delete"}
_PARTICIPANT_DISPLAY = {"author": "Author", "enterer": "Enterer"}
_REPLACED = frozenset({"id", "meta", "text", "target", "recorded"})
"""Elements of the header the server sets itself (its narrative would describe other targets)."""

Target = StoredVersion | tuple[str, int]
"""A written version: the StoredVersion, or (`Type/id`, version number)."""


def parse_x_provenance(value: str | None) -> dict[str, Any] | None:
    """The Provenance resource of an `X-Provenance` header, or None without one; 400 when the
    header is not JSON or not a Provenance."""
    if value is None or not value.strip():
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise bad_request("X-Provenance is not JSON", "X-Provenance") from exc
    if not isinstance(parsed, dict) or parsed.get("resourceType") != "Provenance":
        raise bad_request("X-Provenance must hold a Provenance resource", "X-Provenance")
    return parsed


def _target(target: Target) -> dict[str, str]:
    if isinstance(target, StoredVersion):
        return {"reference": f"{target.reference}/_history/{target.version_id}"}
    reference, version = target
    return {"reference": f"{reference}/_history/{version}"}


def _agent_type(code: str) -> dict[str, Any]:
    display = _PARTICIPANT_DISPLAY[code]
    return {"coding": [{"system": PARTICIPANT_TYPE, "code": code, "display": display}]}


def _same_who(agent: Any, who: dict[str, Any]) -> bool:
    return isinstance(agent, dict) and agent.get("who") == who


def provenance(
    targets: Sequence[Target],
    principal: Principal,
    activity: str,
    recorded: dt.datetime,
    header: dict[str, Any] | None = None,
    *,
    on_behalf_of: str | None = None,
) -> dict[str, Any]:
    """The Provenance of the versions `targets` written by `principal` (provenance.html).

    The caller is an agent: `author`, or `enterer` when the header names agents of its own (an
    integration entering what a clinician wrote); who is the fhirUser, the patient in patient
    context, or the token's subject. `on_behalf_of` (`Organization/x`, ...) when known. The
    header's agents, reasons, activity, entities and other elements are kept; its target and
    recorded are the server's. Without a header the reason is the purpose of use (TREAT or
    ETREAT with the emergency reason). A Provenance built from a header is validated: 422 when
    the header made it invalid.
    """
    if not targets:
        raise ValueError("a Provenance needs at least one target")
    if activity not in _ACTIVITY_DISPLAY:
        raise ValueError(f"activity must be CREATE, UPDATE or DELETE, not {activity!r}")
    body: dict[str, Any] = {"resourceType": "Provenance"}
    if header is not None:
        body.update((k, v) for k, v in header.items() if k not in _REPLACED)
    body["target"] = [_target(t) for t in targets]
    body["recorded"] = format_instant(recorded)
    if "activity" not in body:
        code = activity
        body["activity"] = {
            "coding": [{"system": DATA_OPERATION, "code": code, "display": _ACTIVITY_DISPLAY[code]}]
        }
    if "reason" not in body:
        body["reason"] = purpose_of_event(principal)
    given = body.get("agent", [])
    if not isinstance(given, list):
        raise error(422, "structure", "X-Provenance: agent must be an array", "Provenance.agent")
    agents: list[Any] = list(given)
    who = caller_reference(principal)
    if not any(_same_who(a, who) for a in agents):
        own: dict[str, Any] = {
            "type": _agent_type("enterer" if agents else "author"),
            "who": who,
        }
        if on_behalf_of and on_behalf_of != who.get("reference"):
            own["onBehalfOf"] = {"reference": on_behalf_of}
        agents.append(own)
    body["agent"] = agents
    if header is not None:
        validate_resource("Provenance", body)
    return body
