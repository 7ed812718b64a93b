"""What a patient may change himself (SMART patient context).

The status and notes (`progress`) of plan activities where he is the performer; his own answers
to questionnaires; and accepting or declining a proposed appointment (his own participant's
status). Everything else in his plan is written by the care providers.
"""

from __future__ import annotations

import copy
from typing import Any

from patientkontrakt.fhir.guard import Change
from patientkontrakt.search.references import reference_key

_SERVER_META = ("versionId", "lastUpdated")
_ANSWERS = frozenset({"accepted", "declined", "tentative"})


def _is_patient(value: Any, patient: str) -> bool:
    return reference_key(value) == ("Patient", patient)


def _without_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    clean = copy.deepcopy(resource)
    meta = clean.get("meta")
    if isinstance(meta, dict):
        for key in _SERVER_META:
            meta.pop(key, None)
        if not meta:
            clean.pop("meta")
    return clean


def _own_activity_parts_removed(plan: dict[str, Any], patient: str) -> dict[str, Any]:
    """The plan with the parts the patient may change (his activities' status and progress)
    removed, so two versions compare equal when only those differ."""
    clean = _without_server_meta(plan)
    for activity in clean.get("activity") or []:
        if not isinstance(activity, dict):
            continue
        detail = activity.get("detail")
        if not isinstance(detail, dict):
            continue
        if any(_is_patient(p, patient) for p in detail.get("performer") or []):
            detail.pop("status", None)
            detail.pop("statusReason", None)
            activity.pop("progress", None)
    return clean


def _own_answer_removed(appointment: dict[str, Any], patient: str) -> dict[str, Any]:
    clean = _without_server_meta(appointment)
    for participant in clean.get("participant") or []:
        if isinstance(participant, dict) and _is_patient(participant.get("actor"), patient):
            participant.pop("status", None)
    return clean


def _own_answers(appointment: dict[str, Any], patient: str) -> list[Any]:
    return [
        p.get("status")
        for p in appointment.get("participant") or []
        if isinstance(p, dict) and _is_patient(p.get("actor"), patient)
    ]


def _is_own_response(response: dict[str, Any] | None, patient: str) -> bool:
    if response is None:
        return True
    author = response.get("author")
    return _is_patient(response.get("subject"), patient) and (
        author is None or _is_patient(author, patient)
    )


def patient_may_write(change: Change, patient: str) -> str | None:
    """None when the patient may make `change`; otherwise why not (Swedish and English)."""
    before, after = change.before, change.after
    if change.resource_type == "QuestionnaireResponse":
        if (
            after is not None
            and _is_own_response(before, patient)
            and _is_own_response(after, patient)
        ):
            return None
        return (
            "Du kan bara lämna egna svar / a patient may only write his own questionnaire answers"
        )
    if before is None or after is None:
        return "Du kan inte skapa eller ta bort detta / a patient may not create or delete this"
    if change.resource_type == "CarePlan":
        if _own_activity_parts_removed(before, patient) == _own_activity_parts_removed(
            after, patient
        ):
            return None
        return (
            "Du kan bara ändra status och anteckningar för aktiviteter där du själv är utförare "
            "/ a patient may only change the status and notes of his own activities"
        )
    if change.resource_type == "Appointment":
        answers = _own_answers(after, patient)
        unchanged = _own_answer_removed(before, patient) == _own_answer_removed(after, patient)
        if unchanged and answers and all(a in _ANSWERS for a in answers):
            return None
        return (
            "Du kan bara tacka ja eller nej till en föreslagen tid / a patient may only accept "
            "or decline an appointment"
        )
    return "Detta ändras av vården / the care providers maintain this resource"
