"""The rules between a CarePlan and what its activities reference, checked from both sides.

`PlanActivitiesRule` runs on CarePlan writes: it reads the Appointments, ServiceRequests, Tasks
and MedicationRequests the activities reference (once each) and applies `agreed_times` and
`activities`. `PlanTargetsRule` runs on writes of those resources: it finds the CarePlans whose
`activity.reference` points at the resource (the `activity-reference` search parameter, one
indexed query) and applies the same rules from the other side.

A reference to a resource the store does not hold is not judged when the plan is written: in a
transaction Bundle the target may be written after the plan (the spec's order is DELETE, POST,
PUT; within one method the Bundle's), and it is checked then, by `PlanTargetsRule`. The server
does not otherwise enforce that references resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from patientkontrakt.contract import activities, agreed_times
from patientkontrakt.contract.elements import is_contract_plan, items, refuse, subject_patient
from patientkontrakt.contract.vocabulary import Canonicals
from patientkontrakt.fhir.guard import Change
from patientkontrakt.outcomes import Issue
from patientkontrakt.search.engine import matching_ids
from patientkontrakt.search.references import reference_key
from patientkontrakt.store.repository import Repository

MAX_PLANS = 100
"""Most CarePlans read that reference one resource (one or two in practice)."""

TARGET_TYPES = frozenset(activities.TARGET_PERFORMERS)


async def _contents(
    repo: Repository, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The current content of every (type, id) that exists, in one statement."""
    found = await repo.current_many(keys)
    return {
        key: orjson.loads(stored.content)
        for key, stored in found.items()
        if not stored.deleted and stored.content is not None
    }


@dataclass(frozen=True)
class PlanActivitiesRule:
    """On CarePlan writes: referenced Appointments are the plan's patient's (every plan), and
    in the contract plan they are agreed when booked and every activity names its performer."""

    canonicals: Canonicals = field(default_factory=Canonicals)

    async def __call__(self, repo: Repository, change: Change) -> None:
        if change.resource_type != "CarePlan" or change.after is None:
            return
        plan = change.after
        contract = is_contract_plan(plan, self.canonicals)
        patient = subject_patient(plan)
        wanted = TARGET_TYPES if contract else frozenset({"Appointment"})
        keys = [
            key
            for _, activity in items(plan.get("activity"))
            if (key := reference_key(activity.get("reference"))) is not None and key[0] in wanted
        ]
        targets = await _contents(repo, keys)
        issues: list[Issue] = []
        for index, activity in items(plan.get("activity")):
            key = reference_key(activity.get("reference"))
            target = targets.get(key) if key is not None and key[0] in wanted else None
            if key is not None and key[0] == "Appointment" and target is not None:
                issues += agreed_times.plan_issues(
                    index, f"Appointment/{key[1]}", target, patient, contract
                )
            if contract:
                issues += activities.activity_issues(index, activity, patient, target)
        refuse(issues)


@dataclass(frozen=True)
class PlanTargetsRule:
    """On writes of what plan activities reference: the same rules, from the target's side."""

    canonicals: Canonicals = field(default_factory=Canonicals)

    async def __call__(self, repo: Repository, change: Change) -> None:
        resource_type = change.resource_type
        if resource_type not in TARGET_TYPES or change.after is None:
            return
        content = change.after
        criteria = urlencode({"activity-reference": f"{resource_type}/{change.resource_id}"})
        plan_ids = await matching_ids(repo, "CarePlan", criteria, limit=MAX_PLANS)
        found = await _contents(repo, [("CarePlan", plan_id) for plan_id in plan_ids])
        plans = [
            (f"CarePlan/{plan_id}", plan, is_contract_plan(plan, self.canonicals))
            for (_, plan_id), plan in sorted(found.items())
        ]
        issues: list[Issue] = []
        if resource_type == "Appointment":
            claimed = agreed_times.claims_profile(content, self.canonicals)
            issues += agreed_times.appointment_issues(content, plans, claimed)
        contract_plans = [ref for ref, _, contract in plans if contract]
        if contract_plans and not activities.names_performer(resource_type, content):
            issues.append(activities.target_issue(resource_type, contract_plans[0]))
        refuse(issues)
