"""Every activity of the contract plan names who is responsible for it.

An activity of the contract CarePlan (category contract-category|patientkontrakt) names its
performer either in `activity.detail.performer` (a PractitionerRole, an Organization, a
CareTeam, a RelatedPerson, or the plan's own patient for what he does himself), or, when it is
an `activity.reference` (FHIR allows a reference or a detail, not both: cpl-3), in the resource
it references: an Appointment's participants, a ServiceRequest's performer, a Task's owner, a
MedicationRequest's performer or requester. A bare Practitioner is not enough: responsibility
in Swedish care lies with a person in a role at a unit (PractitionerRole, HSA-id).
"""

from __future__ import annotations

from typing import Any

from patientkontrakt.contract.elements import broken, items, names_someone, reference_type
from patientkontrakt.outcomes import Issue
from patientkontrakt.search.references import reference_key

PERFORMER_TYPES = ("PractitionerRole", "Organization", "CareTeam", "RelatedPerson", "Patient")
"""Who may be named in `activity.detail.performer`."""

TARGET_PERFORMERS: dict[str, tuple[str, ...]] = {
    "Appointment": ("participant",),
    "ServiceRequest": ("performer",),
    "Task": ("owner",),
    "MedicationRequest": ("performer", "requester"),
}
"""The resources an activity may reference, and the elements that name their performer."""

_NOT_PERFORMERS = ("Patient", "Location", "Device")
"""Appointment participants that are not the responsible party."""

_WHO = (
    "PractitionerRole, Organization, CareTeam, RelatedPerson eller patienten själv / "
    "PractitionerRole, Organization, CareTeam, RelatedPerson or the patient himself"
)


def names_performer(resource_type: str, content: dict[str, Any]) -> bool:
    """True when a referenced resource names who performs it."""
    if resource_type == "Appointment":
        return any(
            names_someone(p.get("actor"))
            and reference_type(p.get("actor")) not in _NOT_PERFORMERS
            and p.get("status") != "declined"
            for _, p in items(content.get("participant"))
        )
    for element in TARGET_PERFORMERS.get(resource_type, ()):
        value = content.get(element)
        values = value if isinstance(value, list) else [value]
        if any(names_someone(v) for v in values):
            return True
    return False


def activity_issues(
    index: int,
    activity: dict[str, Any],
    patient: str | None,
    target: dict[str, Any] | None,
) -> list[Issue]:
    """What is wrong with activity `index` of the contract plan of `patient`; `target` is the
    stored resource its `reference` points to, None when the store does not hold it (yet)."""
    where = f"CarePlan.activity[{index}]"
    detail = activity.get("detail")
    performers = list(items(detail.get("performer"))) if isinstance(detail, dict) else []
    if performers:
        issues = []
        for position, performer in performers:
            problem = _performer_problem(performer, patient)
            if problem is not None:
                issues.append(broken(problem, f"{where}.detail.performer[{position}]"))
        return issues
    reference = activity.get("reference")
    if not isinstance(reference, dict):
        return [
            broken(
                "Aktiviteten anger inte vem som ansvarar för den: ange detail.performer "
                f"({_WHO}). / The activity does not name who is responsible for it: give "
                "detail.performer.",
                f"{where}.detail.performer",
            )
        ]
    key = reference_key(reference)
    kind = key[0] if key is not None else reference_type(reference)
    if kind not in TARGET_PERFORMERS:
        return [
            broken(
                f"Aktiviteten hänvisar till {kind or 'en okänd resurs'}, som inte anger vem som "
                f"ansvarar; hänvisa till {', '.join(TARGET_PERFORMERS)} eller beskriv "
                "aktiviteten i detail med detail.performer. / The activity references "
                f"{kind or 'an unknown resource'}, which does not name who is responsible; "
                f"reference {', '.join(TARGET_PERFORMERS)} or describe the activity in detail "
                "with detail.performer.",
                f"{where}.reference",
            )
        ]
    if key is not None and target is not None and not names_performer(key[0], target):
        return [
            broken(
                f"{key[0]}/{key[1]} anger inte vem som ansvarar för aktiviteten "
                f"({_elements(key[0])}). / {key[0]}/{key[1]} does not name who is responsible "
                f"for the activity ({_elements(key[0])}).",
                f"{where}.reference",
            )
        ]
    return []


def target_issue(resource_type: str, plan: str) -> Issue:
    """A referenced resource that names no performer, written while `plan` refers to it."""
    return broken(
        f"Resursen är en aktivitet i patientkontraktet {plan} och ska ange vem som ansvarar "
        f"för den ({_elements(resource_type)}). / The resource is an activity of the patient "
        f"contract {plan} and must name who is responsible for it ({_elements(resource_type)}).",
        f"{resource_type}.{TARGET_PERFORMERS[resource_type][0]}",
    )


def _elements(resource_type: str) -> str:
    return " / ".join(f"{resource_type}.{e}" for e in TARGET_PERFORMERS[resource_type])


def _performer_problem(performer: dict[str, Any], patient: str | None) -> str | None:
    kind = reference_type(performer)
    if kind == "Practitioner":
        return (
            "Ansvarig ska anges som PractitionerRole (person i roll på en vårdenhet), inte "
            "Practitioner. / Name the responsible person as a PractitionerRole (a person in a "
            "role at a care unit), not a Practitioner."
        )
    if kind not in PERFORMER_TYPES or not names_someone(performer):
        return (
            f"Ansvarig ska vara en referens till {_WHO}; en text räcker inte. / The performer "
            "must reference one of those types; a display text alone is not enough."
        )
    key = reference_key(performer)
    if kind == "Patient" and key is not None and patient is not None and key[1] != patient:
        return (
            f"En patient som ansvarar för en aktivitet ska vara planens egen patient "
            f"(Patient/{patient}). / A patient responsible for an activity must be the plan's "
            f"own patient (Patient/{patient})."
        )
    return None
