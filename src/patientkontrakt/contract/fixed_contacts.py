"""Fast läkarkontakt and fast vårdkontakt: at most one at a time per patient (per care unit).

A patient has at most one fast läkarkontakt, and at most one fast vårdkontakt per responsible
care unit (`CareTeam.managingOrganization`), counted over all the patient's active CareTeams.

*Active* (the choice made here): the CareTeam has `status=active`, and the participant's
period (cut to the team's period) has not ended: no `end`, or an `end` after now. Two active
contacts of one kind clash when their periods overlap, so a successor may be written ahead with
a `start` after the predecessor's `end` (a planned handover), while two open-ended ones clash.
A team without `managingOrganization` counts as one unit of its own ("no unit given").

Concurrent writes: the rule takes an advisory lock per patient before it counts, so of two
requests that would each add a second fast läkarkontakt exactly one is stored; the other sees
the first's committed rows (READ COMMITTED) and gets 422.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from patientkontrakt.contract.elements import (
    Interval,
    broken,
    has_coding,
    intersect,
    items,
    overlap,
    period_interval,
    refuse,
    subject_patient,
)
from patientkontrakt.contract.vocabulary import (
    ROLE_FAST_LAKARKONTAKT,
    ROLE_FAST_VARDKONTAKT,
    Canonicals,
)
from patientkontrakt.fhir.guard import Change
from patientkontrakt.outcomes import Issue
from patientkontrakt.search.engine import matching_ids
from patientkontrakt.search.references import reference_key
from patientkontrakt.store.repository import Repository

MAX_TEAMS = 100
"""Most CareTeams of one patient and role read when counting (a handful in practice)."""

FAST_ROLES = (ROLE_FAST_LAKARKONTAKT, ROLE_FAST_VARDKONTAKT)

Unit = str | None
"""A responsible care unit: `Organization/id`, `system|value` of its identifier, or None."""


@dataclass(frozen=True)
class Contact:
    """One active fast läkarkontakt or fast vårdkontakt of a CareTeam."""

    role: str
    interval: Interval
    units: frozenset[Unit]
    index: int
    """Its position in `CareTeam.participant`."""

    def clashes(self, other: Contact) -> bool:
        """Same kind, overlapping periods and (for a fast vårdkontakt) a common care unit."""
        if self.role != other.role or not overlap(self.interval, other.interval):
            return False
        return self.role == ROLE_FAST_LAKARKONTAKT or bool(self.units & other.units)


def _units(team: dict[str, Any]) -> frozenset[Unit]:
    units: set[Unit] = set()
    for _, organization in items(team.get("managingOrganization")):
        key = reference_key(organization)
        identifier = organization.get("identifier")
        if key is not None:
            units.add(f"{key[0]}/{key[1]}")
        elif isinstance(identifier, dict) and identifier.get("value"):
            units.add(f"{identifier.get('system', '')}|{identifier['value']}")
    return frozenset(units) if units else frozenset({None})


def contacts(team: dict[str, Any], system: str, now: dt.datetime) -> list[Contact]:
    """The active fast läkarkontakt and fast vårdkontakt participants of `team`."""
    if team.get("status") != "active":
        return []
    team_period = period_interval(team.get("period"))
    units = _units(team)
    found = []
    for index, participant in items(team.get("participant")):
        interval = intersect(period_interval(participant.get("period")), team_period)
        if interval[1] <= now or interval[0] >= interval[1]:
            continue  # ended
        for role in FAST_ROLES:
            if has_coding(participant.get("role"), system, role):
                found.append(Contact(role, interval, units, index))
    return found


def _message(role: str, where: str) -> str:
    if role == ROLE_FAST_LAKARKONTAKT:
        return (
            f"Patienten har redan en fast läkarkontakt ({where}) under samma tid; avsluta den "
            "(period.end) innan en ny börjar. / The patient already has a fast läkarkontakt "
            f"(named doctor) ({where}) for the same time; end it (period.end) before a new "
            "one starts."
        )
    return (
        f"Patienten har redan en fast vårdkontakt på samma vårdenhet ({where}) under samma tid; "
        "avsluta den (period.end) innan en ny börjar. / The patient already has a fast "
        f"vårdkontakt (named care contact) at the same care unit ({where}) for the same time; "
        "end it (period.end) before a new one starts."
    )


@dataclass(frozen=True)
class FixedContactsRule:
    """The WriteRule: refuses a CareTeam write that gives the patient a second active fast
    läkarkontakt, or a second fast vårdkontakt at one care unit."""

    canonicals: Canonicals = field(default_factory=Canonicals)

    async def __call__(self, repo: Repository, change: Change) -> None:
        if change.resource_type != "CareTeam" or change.after is None:
            return
        patient = subject_patient(change.after)
        if patient is None:
            return
        system = self.canonicals.care_team_role
        now = dt.datetime.now(dt.UTC)
        new = contacts(change.after, system, now)
        if not new:
            return  # nothing this write adds can clash; no lock needed
        issues = _within_team(new)
        await repo.serialize(f"fast-kontakt:Patient/{patient}")
        for role in sorted({c.role for c in new}):
            mine = [c for c in new if c.role == role]
            criteria = urlencode(
                {
                    "patient": f"Patient/{patient}",
                    "status": "active",
                    "participant-role": f"{system}|{role}",
                }
            )
            for team_id in await matching_ids(repo, "CareTeam", criteria, limit=MAX_TEAMS):
                if team_id != change.resource_id:
                    issues += await _against(repo, team_id, mine, system, now)
        refuse(_first_per_participant(issues))


def _within_team(new: list[Contact]) -> list[Issue]:
    issues = []
    for position, contact in enumerate(new):
        for earlier in new[:position]:
            if contact.clashes(earlier):
                where = f"CareTeam.participant[{earlier.index}]"
                issues.append(
                    broken(_message(contact.role, where), f"CareTeam.participant[{contact.index}]")
                )
                break
    return issues


async def _against(
    repo: Repository, team_id: str, mine: list[Contact], system: str, now: dt.datetime
) -> list[Issue]:
    stored = await repo.current("CareTeam", team_id)
    if stored is None or stored.deleted or stored.content is None:
        return []
    theirs = contacts(orjson.loads(stored.content), system, now)
    issues = []
    for contact in mine:
        if any(contact.clashes(other) for other in theirs):
            issues.append(
                broken(
                    _message(contact.role, f"CareTeam/{team_id}"),
                    f"CareTeam.participant[{contact.index}]",
                )
            )
    return issues


def _first_per_participant(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[str, ...]] = set()
    kept = []
    for issue in issues:
        if issue.expression not in seen:
            seen.add(issue.expression)
            kept.append(issue)
    return kept
