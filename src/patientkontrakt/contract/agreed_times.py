"""Överenskommen tid: an Appointment agreed with the patient, and the plan's times are his.

An *agreed time* is an Appointment with `status=booked` (or what follows a booked time:
arrived, checked-in, fulfilled) whose patient participant has `status=accepted`. A *proposal*
has `status=proposed` or `pending`, the patient's answer `needs-action` or `tentative`.

Two rules:
- A CarePlan's activity that references an Appointment must reference one of the plan's own
  patient: the Appointment has that Patient as a participant actor. This holds for every
  CarePlan, whatever its status or category: another patient's time in a plan is wrong in
  every plan, and would show one patient's visit to another.
- A booked Appointment is refused unless its patient participant has accepted it, but only when
  it is a contract time: referenced from a contract CarePlan's activity, or claiming the
  pk-appointment profile. Not for every Appointment: EHR integrations sync bookings made by the
  clinic (a kallelse the patient has not yet confirmed is booked with the patient
  `needs-action`), which are legitimate records there, but not times *agreed* with the
  patient, and the contract must not present them as such.

Both are checked from either side (the plan written, or the Appointment written while a plan
refers to it), so the order of entries in a transaction Bundle does not matter.
"""

from __future__ import annotations

from typing import Any

from patientkontrakt.contract.elements import broken, items, reference_type
from patientkontrakt.contract.vocabulary import Canonicals
from patientkontrakt.outcomes import Issue
from patientkontrakt.search.references import reference_key

AGREED_STATUSES = frozenset({"booked", "arrived", "checked-in", "fulfilled"})
"""Appointment statuses that say the time is agreed (aligned with pk-appointment's pk-app-2)."""

_DIFFERENCE = (
    "En bokad tid (status booked) är en överenskommen tid: patienten ska ha accepterat den "
    "(participant.status = accepted). En tid som ännu inte är överenskommen med patienten är "
    "ett förslag: status proposed eller pending, med patientens svar needs-action eller "
    "tentative. / A booked appointment is an agreed time (överenskommen tid): the patient must "
    "have accepted it (participant.status accepted). A time not yet agreed with the patient is "
    "a proposal: status proposed or pending, the patient's answer needs-action or tentative."
)


def claims_profile(appointment: dict[str, Any], canonicals: Canonicals) -> bool:
    """True when the Appointment names the pk-appointment profile in `meta.profile`."""
    meta = appointment.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    return isinstance(claimed, list) and canonicals.profile("pk-appointment") in claimed


def takes_part(appointment: dict[str, Any], patient: str) -> bool:
    """True when `Patient/{patient}` is a participant actor of the Appointment."""
    return any(
        reference_key(p.get("actor")) == ("Patient", patient)
        for _, p in items(appointment.get("participant"))
    )


def agreed_without_patient(appointment: dict[str, Any]) -> list[int]:
    """Positions of patient participants that have not accepted a booked Appointment."""
    if appointment.get("status") not in AGREED_STATUSES:
        return []
    return [
        index
        for index, p in items(appointment.get("participant"))
        if reference_type(p.get("actor")) == "Patient" and p.get("status") != "accepted"
    ]


def plan_issues(
    index: int,
    appointment_ref: str,
    appointment: dict[str, Any],
    patient: str | None,
    contract: bool,
) -> list[Issue]:
    """Activity `index` of a plan of `patient` references the stored `appointment`."""
    where = f"CarePlan.activity[{index}].reference"
    issues = []
    if patient is not None and not takes_part(appointment, patient):
        issues.append(
            broken(
                f"Tiden {appointment_ref} hör inte till planens patient: Patient/{patient} är "
                f"inte deltagare i den. / The appointment {appointment_ref} does not belong to "
                f"the plan's patient: Patient/{patient} is not a participant.",
                where,
            )
        )
    if contract and agreed_without_patient(appointment):
        issues.append(broken(f"{appointment_ref}: {_DIFFERENCE}", where))
    return issues


def appointment_issues(
    appointment: dict[str, Any],
    plans: list[tuple[str, dict[str, Any], bool]],
    claimed: bool,
) -> list[Issue]:
    """The Appointment being written, with the plans (reference, content, is-contract) that
    refer to it and whether it claims the pk-appointment profile."""
    issues = []
    for plan_ref, plan, _ in plans:
        key = reference_key(plan.get("subject"))
        if key is not None and key[0] == "Patient" and not takes_part(appointment, key[1]):
            issues.append(
                broken(
                    f"Tiden finns i planen {plan_ref} för Patient/{key[1]}, men patienten är "
                    f"inte deltagare i den. / The appointment is in the plan {plan_ref} of "
                    f"Patient/{key[1]}, but that patient is not a participant.",
                    "Appointment.participant",
                )
            )
    if claimed or any(contract for _, _, contract in plans):
        issues += [
            broken(_DIFFERENCE, f"Appointment.participant[{index}].status")
            for index in agreed_without_patient(appointment)
        ]
    return issues
