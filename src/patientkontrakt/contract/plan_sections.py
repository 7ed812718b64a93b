"""The sections drawn from the plans' activities and goals: planned activities per
responsible organisation, what the patient does himself, goals, and the next step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from patientkontrakt.contract import narrative as n
from patientkontrakt.contract.sections import (
    NOT_APPROVED,
    YOUR_CONTACT,
    Contact,
    Contract,
    Resource,
    Section,
    agreed_upcoming,
    appointment_line,
    entries_of,
    key_of,
    label,
    resource_label,
    unique,
)
from patientkontrakt.contract.vocabulary import ROLE_FAST_VARDKONTAKT

ACTIVITY_STATUS = {
    "not-started": "ej påbörjad",
    "scheduled": "planerad",
    "in-progress": "pågår",
    "on-hold": "pausad",
    "completed": "avslutad",
    "cancelled": "inställd",
    "stopped": "avbruten",
}
GOAL_STATUS = {
    "proposed": "föreslaget",
    "planned": "planerat",
    "accepted": "accepterat",
    "active": "pågår",
    "on-hold": "pausat",
    "completed": "uppnått",
    "cancelled": "avbrutet",
}
DONE = frozenset({"completed", "cancelled", "stopped", "entered-in-error"})


# --- the plan's activities ------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    """One activity of a shown plan, with who is responsible and when it happens."""

    plan: Resource
    text: str
    details: str
    status: str
    when: str
    performer: str
    self_care: bool
    group: str
    group_name: str
    next_time: dt.datetime | None
    goals: list[str]
    entries: list[str]


def activities(contract: Contract) -> list[Activity]:
    """Every activity of the shown plans, in plan order (entered-in-error ones left out)."""
    found = []
    for plan in contract.plans:
        for item in plan.get("activity", []):
            if isinstance(item, dict):
                activity = _activity(contract, plan, item)
                if activity is not None:
                    found.append(activity)
    return found


def _activity(contract: Contract, plan: Resource, item: Resource) -> Activity | None:
    detail = item.get("detail") or {}
    reference = item.get("reference")
    target = contract.pool.get(reference) or {}
    status = str(detail.get("status", ""))
    if status == "entered-in-error" or target.get("status") == "entered-in-error":
        return None
    text = (
        n.concept(detail.get("code"))
        or (reference or {}).get("display")
        or resource_label(contract, target)
        or detail.get("description")
        or "Insats"
    )
    details = str(detail.get("description", "")) if detail.get("description") != text else ""
    performers = list(detail.get("performer", [])) or _target_performers(contract, target)
    self_care = any(contract.is_patient(p) for p in performers)
    others = [p for p in performers if not contract.is_patient(p)]
    group, group_name, organization = _responsible(contract, others[0] if others else None)
    person = _person(contract, others[0]) if others else ""
    if person == group_name:
        person = ""
    times = _times(detail, target)
    upcoming = [t for t in times if t >= contract.now]
    open_status = status not in DONE and target.get("status") not in DONE
    goal_refs = list(detail.get("goal", []))
    return Activity(
        plan=plan,
        text=str(text),
        details=details,
        status=ACTIVITY_STATUS.get(status, ""),
        when=_when(detail, target),
        performer=person,
        self_care=self_care,
        group=group,
        group_name=group_name,
        next_time=min(upcoming) if upcoming and open_status else None,
        goals=unique(label(contract, g) for g in goal_refs),
        entries=entries_of(contract, key_of(plan), reference, *others, organization, *goal_refs),
    )


def _person(contract: Contract, performer: object) -> str:
    """Who carries out an activity, without the unit the group already names."""
    resource = contract.pool.get(performer) or {}
    if resource.get("resourceType") == "PractitionerRole":
        return label(contract, resource.get("practitioner")) or label(contract, performer)
    return label(contract, performer)


def _target_performers(contract: Contract, target: Resource) -> list[Any]:
    """Who carries out a referenced ServiceRequest, Task, MedicationRequest or Appointment."""
    kind = target.get("resourceType")
    if kind == "ServiceRequest":
        return list(target.get("performer", []))
    if kind == "Task":
        return [target["owner"]] if target.get("owner") else []
    if kind == "MedicationRequest":
        who = target.get("performer") or target.get("requester")
        return [who] if who else []
    if kind == "Appointment":
        actors = [p.get("actor") for p in target.get("participant", []) if p.get("actor")]
        return [a for a in actors if not contract.is_patient(a)]
    return []


def _responsible(contract: Contract, performer: object) -> tuple[str, str, object]:
    """(group key, group name, the organisation's reference) of who is responsible."""
    if performer is None:
        return "", "Ansvarig ej angiven", None
    resource = contract.pool.get(performer) or {}
    kind = resource.get("resourceType") or (
        performer.get("type") if isinstance(performer, dict) else None
    )
    kind = kind or str(contract.pool.key(performer) or "").partition("/")[0]
    organization: object = None
    if kind == "Organization":
        organization = performer
    elif kind == "PractitionerRole":
        organization = resource.get("organization")
    elif kind == "CareTeam":
        organization = (resource.get("managingOrganization") or [None])[0]
    elif kind == "RelatedPerson":
        return "närstående", "Närstående", None
    if organization is not None:
        name = label(contract, organization)
        key = contract.pool.key(organization)
        if name or key:
            return key or f"namn:{name}", name or "Vårdgivare", organization
    name = label(contract, performer)
    return f"namn:{name}", name or "Ansvarig ej angiven", None


def _times(detail: Resource, target: Resource) -> list[dt.datetime]:
    """The moments an activity is planned for (timing events, period starts, a booked time)."""
    values: list[object] = []
    timing = detail.get("scheduledTiming") or {}
    values += timing.get("event", [])
    values.append(((timing.get("repeat") or {}).get("boundsPeriod") or {}).get("start"))
    values.append((detail.get("scheduledPeriod") or {}).get("start"))
    values.append(target.get("start"))
    values.append(target.get("occurrenceDateTime"))
    values.append((target.get("occurrencePeriod") or {}).get("start"))
    values.append((target.get("executionPeriod") or {}).get("start"))
    return [t for t in map(n.sort_key, values) if t is not None]


def _when(detail: Resource, target: Resource) -> str:
    if detail.get("scheduledString"):
        return str(detail["scheduledString"])
    if detail.get("scheduledPeriod"):
        return n.period(detail["scheduledPeriod"])
    timing = detail.get("scheduledTiming") or {}
    if timing:
        events = timing.get("event", [])
        if events:
            return ", ".join(n.swedish_moment(e) for e in events[:3])
        bounds = (timing.get("repeat") or {}).get("boundsPeriod")
        return n.concept(timing.get("code")) or n.period(bounds)
    if target.get("start"):
        return n.swedish_span(target.get("start"), target.get("end"))
    if target.get("occurrenceDateTime"):
        return n.swedish_moment(target["occurrenceDateTime"])
    return n.period(target.get("occurrencePeriod") or target.get("executionPeriod"))


def _activity_line(contract: Contract, activity: Activity, *, with_performer: bool) -> n.Html:
    parts: list[str | n.Html] = [n.bold(activity.text)]
    facts = [
        activity.performer if with_performer else "",
        activity.when,
        activity.status,
    ]
    if len(contract.plans) > 1:
        facts.append(f"i {activity.plan.get('title') or 'planen'}")
    if not contract.patient_facing and not contract.approved(activity.plan):
        facts.append(NOT_APPROVED)
    written = ", ".join(f for f in facts if f)
    parts.append(f" – {written}." if written else ".")
    if activity.details:
        parts.append(" " + n.sentence(activity.details))
    if activity.goals:
        goals = "målen " if len(activity.goals) > 1 else "målet "
        parts.append(" " + n.sentence("För " + goals + " och ".join(activity.goals)))
    return n.join(parts)


def planned_by_responsible(contract: Contract, found: list[Activity]) -> Section:
    """Planerade insatser per ansvarig: the activities others carry out, grouped by responsible
    organisation in the order they first appear."""
    groups: dict[str, list[Activity]] = {}
    for activity in found:
        if not activity.self_care:
            groups.setdefault(activity.group, []).append(activity)
    blocks: list[n.Html] = []
    entries: list[str] = []
    for members in groups.values():
        blocks.append(n.paragraph(n.bold(members[0].group_name)))
        blocks.append(
            n.bullet_list([_activity_line(contract, a, with_performer=True) for a in members])
        )
        for activity in members:
            entries += [e for e in activity.entries if e not in entries]
    if not blocks:
        blocks.append(n.paragraph("Inga insatser är planerade."))
    return Section("planerade-insatser", "Planerade insatser per ansvarig", blocks, entries)


def self_care(contract: Contract, found: list[Activity]) -> Section:
    """Det här gör jag själv: the activities the patient carries out."""
    mine = [a for a in found if a.self_care]
    blocks = [
        n.bullet_list([_activity_line(contract, a, with_performer=False) for a in mine])
        if mine
        else n.paragraph("Inga egna insatser är överenskomna.")
    ]
    entries: list[str] = []
    for activity in mine:
        entries += [e for e in activity.entries if e not in entries]
    return Section("egenvard", "Det här gör jag själv", blocks, entries)


# --- goals ----------------------------------------------------------------------------------------


def shown_goals(contract: Contract) -> list[Resource]:
    """The shown plans' goals, then the patient's own goals (expressed by the patient)."""
    found: dict[str, Resource] = {}
    for plan in contract.plans:
        for reference in plan.get("goal", []):
            goal = contract.pool.get(reference)
            if goal is not None and goal.get("lifecycleStatus") != "entered-in-error":
                found.setdefault(key_of(goal), goal)
    for goal in contract.goals:
        if contract.is_patient(goal.get("expressedBy")):
            found.setdefault(key_of(goal), goal)
    return list(found.values())


def _goal_line(contract: Contract, goal: Resource) -> n.Html:
    facts = [
        "mitt eget mål" if contract.is_patient(goal.get("expressedBy")) else "",
        GOAL_STATUS.get(str(goal.get("lifecycleStatus")), ""),
        n.concept(goal.get("achievementStatus")).lower(),
    ]
    for target in goal.get("target", []):
        measure = _target_text(target)
        due = target.get("dueDate")
        facts.append(
            ", ".join(
                p
                for p in (measure, f"senast {n.swedish_moment(due, weekday=False)}" if due else "")
                if p
            )
        )
    if not contract.patient_facing:
        plans = [
            p
            for p in contract.plans
            if any(contract.pool.key(g) == key_of(goal) for g in p.get("goal", []))
        ]
        if plans and not any(contract.approved(p) for p in plans):
            facts.append(NOT_APPROVED)
    written = ", ".join(f for f in facts if f)
    text = n.concept(goal.get("description")) or "Mål"
    parts: list[str | n.Html] = [n.bold(text), f" – {written}." if written else "."]
    notes = n.note_texts(goal.get("note"))
    if notes:
        parts.append(" " + " ".join(n.sentence(note) for note in notes))
    return n.join(parts)


def _target_text(target: Resource) -> str:
    measure = n.concept(target.get("measure"))
    quantity = target.get("detailQuantity")
    detail = ""
    if isinstance(quantity, dict) and "value" in quantity:
        unit = str(quantity.get("unit", ""))
        unit = "" if unit.startswith("{") else unit
        detail = f"{quantity.get('comparator', '')} {quantity['value']} {unit}".strip()
    elif target.get("detailString"):
        detail = str(target["detailString"])
    elif target.get("detailCodeableConcept"):
        detail = n.concept(target["detailCodeableConcept"])
    return f"{measure}: {detail}" if measure and detail else measure or detail


def goals(contract: Contract) -> Section:
    """Mål: the plans' goals and the patient's own."""
    found = shown_goals(contract)
    blocks = [
        n.bullet_list([_goal_line(contract, g) for g in found])
        if found
        else n.paragraph("Inga mål är satta.")
    ]
    return Section("mal", "Mål", blocks, entries_of(contract, *(key_of(g) for g in found)))


# --- next step ------------------------------------------------------------------------------------


def next_step(contract: Contract, found: list[Activity], people: list[Contact]) -> Section:
    """Nästa steg: the next agreed time, else the next dated activity; and whom to contact."""
    blocks: list[n.Html] = []
    entries: list[str] = []
    upcoming = agreed_upcoming(contract)
    planned = sorted(
        (a for a in found if a.next_time is not None),
        key=lambda a: a.next_time or contract.now,
    )
    if upcoming:
        first = upcoming[0]
        blocks.append(
            n.paragraph(
                "Nästa överenskomna tid: ", appointment_line(contract, first, proposal=False)
            )
        )
        entries += entries_of(contract, key_of(first))
    elif planned:
        first_activity = planned[0]
        assert first_activity.next_time is not None
        when = n.swedish_moment(first_activity.next_time.astimezone(n.STOCKHOLM).isoformat())
        who = first_activity.performer or (
            "" if first_activity.self_care else first_activity.group_name
        )
        blocks.append(n.paragraph("Ingen ny tid är överenskommen."))
        blocks.append(
            n.paragraph(
                "Nästa planerade insats: ",
                n.bold(first_activity.text),
                " – ",
                n.sentence(", ".join(p for p in (when, who) if p)),
            )
        )
        entries += [e for e in first_activity.entries if e not in entries]
    else:
        blocks.append(n.paragraph("Ingen ny tid är överenskommen och ingen insats har ett datum."))
    contact = next((c for c in people if c.role == ROLE_FAST_VARDKONTAKT), None) or next(
        iter(people), None
    )
    if contact is not None:
        where = ", ".join(p for p in (contact.name, contact.organization) if p)
        reach = contact.reach_text()
        blocks.append(
            n.paragraph(
                f"Kontakta {YOUR_CONTACT[contact.role]} ",
                n.bold(where),
                f": {reach}." if reach else ".",
            )
        )
        entries += [e for e in contact.entries if e not in entries]
    else:
        blocks.append(n.paragraph("Vid frågor, kontakta den mottagning som ansvarar för planen."))
    return Section("nasta-steg", "Nästa steg", blocks, entries)
