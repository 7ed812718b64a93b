"""What the contract document's sections show, from the gathered resources: the `Contract`
they draw from, the names references stand for, and the sections on the agreement, the named
contacts and the agreed times (`plan_sections.py` has those drawn from activities and goals).

Pure functions of a `Contract` (the patient's plans, care teams, appointments and goals, already
filtered for patient-facing use): each returns a `Section` with its Swedish narrative and the
resources it is about. No I/O here; `document.py` gathers and assembles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from patientkontrakt.contract import narrative as n
from patientkontrakt.contract.pool import Pool
from patientkontrakt.contract.vocabulary import (
    PLAN_TYPES,
    ROLE_FAST_LAKARKONTAKT,
    ROLE_FAST_VARDKONTAKT,
    Canonicals,
)

Resource = dict[str, Any]

NOT_APPROVED = "ej godkänd för patienten"
"""The mark clinicians see on a plan that patient-facing use does not show."""

ROLE_TEXT = {ROLE_FAST_VARDKONTAKT: "Fast vårdkontakt", ROLE_FAST_LAKARKONTAKT: "Fast läkarkontakt"}
YOUR_CONTACT = {
    ROLE_FAST_VARDKONTAKT: "din fasta vårdkontakt",
    ROLE_FAST_LAKARKONTAKT: "din fasta läkarkontakt",
}
PLAN_STATUS = {
    "draft": "utkast",
    "active": "gäller",
    "on-hold": "pausad",
    "revoked": "återkallad",
    "completed": "avslutad",
    "unknown": "okänd status",
}
AGREED_STATUSES = frozenset({"booked", "arrived", "checked-in", "fulfilled"})
"""A booked time and what follows it (agreed_times.py); agreed once the patient accepted."""
PROPOSAL_STATUS = {"proposed": "föreslagen tid", "pending": "inväntar bekräftelse"}


@dataclass
class Section:
    """One Composition.section: its code and title, narrative blocks, entries and subsections."""

    code: str
    title: str
    blocks: list[n.Html]
    entries: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class Contract:
    """A patient's contract as gathered: what the sections draw from."""

    patient_key: str
    patient: Resource
    plans: list[Resource]
    teams: list[Resource]
    upcoming: list[Resource]
    past: list[Resource]
    proposals: list[Resource]
    goals: list[Resource]
    pool: Pool
    canonicals: Canonicals
    patient_facing: bool
    now: dt.datetime
    past_truncated: bool = False

    @property
    def patient_name(self) -> str:
        """The patient's name, or `patienten`."""
        return n.human_name(self.patient.get("name")) or "patienten"

    def is_patient(self, reference: object) -> bool:
        """True when `reference` points at this patient."""
        return self.pool.key(reference) == self.patient_key

    def approved(self, plan: Resource) -> bool:
        """The plan carries approved-for-patient = true."""
        return approved(plan, self.canonicals)


def approved(plan: Resource, canonicals: Canonicals) -> bool:
    """True when the CarePlan's approved-for-patient extension says true."""
    return any(
        isinstance(e, dict)
        and e.get("url") == canonicals.approved_for_patient
        and e.get("valueBoolean") is True
        for e in plan.get("extension", [])
    )


def entries_of(contract: Contract, *references: object) -> list[str]:
    """`Type/id` of those references that point at gathered resources, once each, in order."""
    out: list[str] = []
    for reference in references:
        key = reference if isinstance(reference, str) else contract.pool.key(reference)
        if key is not None and key in contract.pool and key not in out:
            out.append(key)
    return out


def key_of(resource: Resource) -> str:
    """`Type/id` of a gathered resource."""
    return f"{resource['resourceType']}/{resource['id']}"


# --- names of what references point at ------------------------------------------------------------


def label(contract: Contract, reference: object) -> str:
    """What a reference names: the resolved resource's name, else the reference's display."""
    resource = contract.pool.get(reference)
    if resource is not None:
        written = resource_label(contract, resource)
        if written:
            return written
    if isinstance(reference, dict) and reference.get("display"):
        return str(reference["display"])
    return ""


def resource_label(contract: Contract, resource: Resource) -> str:
    """A resource's name as a reader knows it: a person's name, an organisation's, ..."""
    kind = resource.get("resourceType")
    if kind in ("Patient", "Practitioner", "RelatedPerson"):
        return n.human_name(resource.get("name"))
    if kind in ("Organization", "CareTeam"):
        return str(resource.get("name", ""))
    if kind == "PractitionerRole":
        person = label(contract, resource.get("practitioner"))
        place = label(contract, resource.get("organization"))
        return ", ".join(p for p in (person, place) if p)
    if kind == "Goal":
        return n.concept(resource.get("description"))
    if kind == "Appointment" and resource.get("description"):
        return str(resource["description"])
    for name in ("code", "medicationCodeableConcept", "serviceType", "appointmentType"):
        value = resource.get(name)
        written = n.concepts(value)[0] if isinstance(value, list) and value else n.concept(value)
        if written:
            return written
    return str(resource.get("description") or resource.get("title") or "")


# --- the agreement --------------------------------------------------------------------------------


def agreement(contract: Contract) -> Section:
    """Överenskommelsen: the contract plans, their description, period, notes, who takes part."""
    blocks = [
        n.paragraph(
            f"Överenskommelsen mellan {contract.patient_name} och vården: vem som är fast kontakt, "
            "vilka tider som är överenskomna och vad var och en gör."
        )
    ]
    if not contract.plans:
        blocks.append(n.paragraph("Det finns ännu ingen överenskommen plan."))
    for plan in contract.plans:
        heading: list[str | n.Html] = [n.bold(plan.get("title") or "Patientkontrakt")]
        if not contract.approved(plan) and not contract.patient_facing:
            heading.append(f" ({NOT_APPROVED})")
        blocks.append(n.paragraph(*heading))
        types = [
            str(c.get("display") or PLAN_TYPES.get(str(c.get("code"))) or c.get("code"))
            for category in plan.get("category", [])
            for c in category.get("coding", [])
            if c.get("system") == contract.canonicals.plan_type
        ]
        valid = n.period(plan.get("period"))
        status = PLAN_STATUS.get(str(plan.get("status")), "")
        if valid:
            status = f"gäller {valid}" if plan.get("status") == "active" else f"{status}, {valid}"
        blocks.append(n.paragraph(_upper_first(n.sentence(", ".join(types), status))))
        if plan.get("description"):
            blocks.append(n.paragraph(str(plan["description"])))
        author = label(contract, plan.get("author"))
        if author:
            blocks.append(n.paragraph(f"Upprättad av {author}."))
        taking_part = unique(
            label(contract, c) for c in [*plan.get("contributor", []), *plan.get("careTeam", [])]
        )
        if taking_part:
            blocks.append(n.paragraph("Deltar: ", "; ".join(taking_part), "."))
        notes = n.note_texts(plan.get("note"))
        if notes:
            blocks.append(n.paragraph("Anteckningar:"))
            blocks.append(n.bullet_list(notes))
    entries = entries_of(contract, *(key_of(p) for p in contract.plans))
    for plan in contract.plans:
        entries += [
            e
            for e in entries_of(
                contract,
                plan.get("author"),
                *plan.get("contributor", []),
                *plan.get("careTeam", []),
            )
            if e not in entries
        ]
    return Section("overenskommelse", "Överenskommelsen", blocks, entries)


def _upper_first(value: str) -> str:
    return value[:1].upper() + value[1:]


def unique(values: Iterable[str]) -> list[str]:
    """The non-empty values, each once, in order."""
    out: list[str] = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out


# --- fast vårdkontakt / fast läkarkontakt ---------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """A named contact of the patient's care team and how to reach them."""

    role: str
    name: str
    title: str
    organization: str
    reach: list[str]
    hours: list[str]
    entries: list[str]

    def line(self) -> n.Html:
        """`Fast vårdkontakt: Sam Testsköterska (...), Psykiatrimottagning Testby. Nås ...`"""
        who = self.name + (f" ({self.title})" if self.title else "")
        parts: list[str | n.Html] = [
            n.bold(ROLE_TEXT[self.role], ": "),
            n.sentence(who, self.organization),
        ]
        if self.reach or self.hours:
            parts.append(" " + n.sentence("Nås på " + ", ".join(self.reach + self.hours)))
        return n.join(parts)

    def reach_text(self) -> str:
        """Telephone and hours in one phrase, or empty."""
        return ", ".join(self.reach + self.hours)


def contacts(contract: Contract) -> list[Contact]:
    """The active care teams' fast vårdkontakt and fast läkarkontakt, in that order."""
    found: list[Contact] = []
    for team in contract.teams:
        for participant in team.get("participant", []):
            role = _contact_role(contract, participant)
            if role is None or not _current(participant.get("period"), contract.now):
                continue
            found.append(_contact(contract, team, participant, role))
    order = (ROLE_FAST_VARDKONTAKT, ROLE_FAST_LAKARKONTAKT)
    return sorted(found, key=lambda c: order.index(c.role))


def _contact_role(contract: Contract, participant: Resource) -> str | None:
    for role in participant.get("role", []):
        for coding in role.get("coding", []):
            if coding.get("system") == contract.canonicals.care_team_role and coding.get(
                "code"
            ) in (ROLE_FAST_VARDKONTAKT, ROLE_FAST_LAKARKONTAKT):
                return str(coding["code"])
    return None


def _current(value: object, now: dt.datetime) -> bool:
    if not isinstance(value, dict):
        return True
    end = n.sort_key(value.get("end"))
    return end is None or end + dt.timedelta(days=1) > now


def _contact(contract: Contract, team: Resource, participant: Resource, role: str) -> Contact:
    member = participant.get("member")
    resource = contract.pool.get(member) or {}
    managing = (team.get("managingOrganization") or [None])[0]
    organization_ref: object = managing
    person_ref: object = None
    title = ""
    points: object = resource.get("telecom")
    hours: list[str] = []
    if resource.get("resourceType") == "PractitionerRole":
        person_ref = resource.get("practitioner")
        organization_ref = resource.get("organization") or managing
        title = ", ".join(n.concepts(resource.get("code")))
        person = contract.pool.get(person_ref) or {}
        points = resource.get("telecom") or person.get("telecom")
        hours = n.available_times(resource.get("availableTime"))
        if resource.get("availabilityExceptions"):
            hours.append(str(resource["availabilityExceptions"]))
        name = label(contract, person_ref)
    else:
        name = label(contract, member)
    if not name:
        name = label(contract, member) or "namn saknas"
    organization = label(contract, organization_ref)
    if organization and organization in name:
        organization = ""
    if not points and organization_ref is not None:
        points = (contract.pool.get(organization_ref) or {}).get("telecom")
    entries = entries_of(contract, key_of(team), member, person_ref, organization_ref)
    return Contact(role, name, title, organization, n.telecom(points), hours, entries)


def fixed_contacts(contract: Contract, found: list[Contact]) -> Section:
    """Fast vårdkontakt / fast läkarkontakt with how to reach them."""
    blocks: list[n.Html] = []
    if found:
        blocks.append(n.bullet_list([c.line() for c in found]))
    for role, text in ROLE_TEXT.items():
        if not any(c.role == role for c in found):
            blocks.append(n.paragraph(f"{text} är inte utsedd."))
    entries: list[str] = []
    for contact in found:
        entries += [e for e in contact.entries if e not in entries]
    return Section("fasta-kontakter", "Fast vårdkontakt och fast läkarkontakt", blocks, entries)


# --- överenskommen tid ----------------------------------------------------------------------------


def patient_status(contract: Contract, appointment: Resource) -> str | None:
    """The patient's participation status in an appointment, or None if not taking part."""
    for participant in appointment.get("participant", []):
        if contract.is_patient(participant.get("actor")):
            return str(participant.get("status"))
    return None


def is_agreed(contract: Contract, appointment: Resource) -> bool:
    """Överenskommen tid: booked (or since arrived/fulfilled), accepted by the patient."""
    return (
        appointment.get("status") in AGREED_STATUSES
        and patient_status(contract, appointment) == "accepted"
    )


def agreed_upcoming(contract: Contract) -> list[Resource]:
    """Agreed times still to come, soonest first."""
    found = [a for a in contract.upcoming if is_agreed(contract, a)]
    return sorted(found, key=lambda a: n.sort_key(a.get("start")) or contract.now)


def appointment_line(contract: Contract, appointment: Resource, *, proposal: bool) -> n.Html:
    when = n.swedish_span(appointment.get("start"), appointment.get("end"))
    if not when:
        requested = [n.between(p) for p in appointment.get("requestedPeriod", [])]
        when = "någon gång " + " eller ".join(r for r in requested if r) if any(requested) else ""
    what = (
        appointment.get("description")
        or n.concept(appointment.get("appointmentType"))
        or ", ".join(n.concepts(appointment.get("serviceType")))
        or "Besök"
    )
    others = unique(
        label(contract, p.get("actor"))
        for p in appointment.get("participant", [])
        if not contract.is_patient(p.get("actor"))
    )
    parts: list[str | n.Html] = [n.bold(when or "Tid ej bestämd"), ": ", str(what)]
    if others:
        parts.append(", med " + " och ".join(others))
    state = ""
    if proposal:
        state = PROPOSAL_STATUS.get(str(appointment.get("status")), "väntar på ditt svar")
    elif appointment.get("status") == "fulfilled":
        state = "genomförd"
    parts.append(f" ({state})." if state else ".")
    if appointment.get("patientInstruction"):
        parts.append(n.join([" ", n.element("i", "Inför besöket:"), " "]))
        parts.append(str(appointment["patientInstruction"]))
    return n.join(parts)


def agreed_times(contract: Contract) -> Section:
    """Överenskommen tid: upcoming soonest first, then past most recent first; proposals apart."""
    upcoming = agreed_upcoming(contract)
    past = [a for a in contract.past if is_agreed(contract, a)]
    past.sort(key=lambda a: n.sort_key(a.get("start")) or contract.now, reverse=True)
    unanswered = [
        a for a in contract.upcoming if a.get("status") == "booked" and not is_agreed(contract, a)
    ]
    blocks = [n.paragraph(n.bold("Kommande"))]
    lines = [appointment_line(contract, a, proposal=False) for a in upcoming]
    blocks.append(n.bullet_list(lines) if lines else n.paragraph("Ingen kommande tid är bokad."))
    if past:
        blocks.append(n.paragraph(n.bold("Tidigare")))
        blocks.append(n.bullet_list([appointment_line(contract, a, proposal=False) for a in past]))
        if contract.past_truncated:
            blocks.append(n.paragraph(f"De {len(past)} senaste tiderna visas."))
    proposals = sorted(
        [*unanswered, *contract.proposals],
        key=lambda a: n.sort_key(a.get("start") or _requested_start(a)) or contract.now,
    )
    proposal_blocks = [
        n.paragraph("Tider som har föreslagits men ännu inte är överenskomna."),
        n.bullet_list([appointment_line(contract, a, proposal=True) for a in proposals])
        if proposals
        else n.paragraph("Inga tider är föreslagna."),
    ]
    subsection = Section(
        "tidsforslag",
        "Förslag på tider",
        proposal_blocks,
        entries_of(contract, *(key_of(a) for a in proposals)),
    )
    entries = entries_of(contract, *(key_of(a) for a in [*upcoming, *past]))
    return Section("overenskommen-tid", "Överenskommen tid", blocks, entries, [subsection])


def _requested_start(appointment: Resource) -> object:
    periods = appointment.get("requestedPeriod") or [{}]
    return periods[0].get("start") if isinstance(periods[0], dict) else None
