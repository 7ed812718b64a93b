"""One demo patient and his patient contract, built from a scenario (`demo_scenarios`).

Per patient: the Patient; Conditions (ICD-10-SE); Goals, one of them often the patient's own
("det här är viktigt för mig", expressed by the patient); a CareTeam at his health centre with
his fast läkarkontakt and fast vårdkontakt, and one more CareTeam with a fast vårdkontakt for
each other care unit (psychiatry, the hospital clinic) taking part; Appointments for the plan's
visits: agreed (booked, the patient's participation accepted) and upcoming, earlier ones
fulfilled, and some proposals awaiting the patient's answer (proposed, needs-action); and the
contract CarePlan (sammanhållen planering).

Every plan activity names who is responsible (pk-careplan's pk-cp-1): `detail.performer` (a
PractitionerRole, an Organization such as the municipality's home care or social services, or
the Patient himself), or, for a visit, `activity.reference` to its Appointment, whose
participants name the performer. R4's invariant cpl-3 forbids `reference` beside `detail`.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from patientkontrakt.contract.demo_base import Clock, information_holder, instant, meta, ref
from patientkontrakt.contract.demo_people import (
    TOLVAN_BIRTH_DATE,
    TOLVAN_PERSONNUMMER,
    TOWNS,
    PersonnummerRule,
    birth_date,
    family_name,
    given_name,
    home_address,
    phone,
)
from patientkontrakt.contract.demo_scenarios import (
    GAD7_TOTAL,
    GAD_GOAL,
    ICD10SE,
    INSTRUCTIONS,
    LOINC,
    MINUTES,
    PHQ9_TOTAL,
    PHQ_GOAL,
    SCENARIOS,
    SCENARIOS_BY_KEY,
    VIDEO_INSTRUCTION,
    Scenario,
    Step,
)
from patientkontrakt.contract.demo_staff import HEALTH_CENTRES, UNITS_BY_KEY, Role, Staff
from patientkontrakt.contract.vocabulary import (
    CATEGORY_PATIENTKONTRAKT,
    PERSONNUMMER,
    PLAN_TYPES,
    ROLE_FAST_LAKARKONTAKT,
    ROLE_FAST_VARDKONTAKT,
    Canonicals,
)

OWN_GOAL_TEXT = "Det här är viktigt för mig"
APPOINTMENT_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0276"
CARE_TEAM_CATEGORY = ("LA28865-6", "Longitudinal care-coordination focused care team")
SPECIALIST_UNITS = ("psykiatri", "medicin")
"""Care units (besides the health centre) where the patient gets a fast vårdkontakt."""


def patient_id(number: int) -> str:
    """The fixed id of demo patient `number` (1-based): `demo-patient-000001`, ..."""
    return f"demo-patient-{number:06d}"


@dataclass
class _Context:
    number: int
    rng: random.Random
    staff: Staff
    canonicals: Canonicals
    clock: Clock
    scenario: Scenario
    centre: str
    name: str
    out: list[dict[str, Any]] = field(default_factory=list)

    @property
    def suffix(self) -> str:
        return f"{self.number:06d}"

    @property
    def patient(self) -> dict[str, Any]:
        return ref("Patient", patient_id(self.number), self.name)

    def role(self, unit: str, profession: str) -> Role:
        unit = self.centre if unit == "gp" else unit
        roles = self.staff.of(unit, profession)
        # Fixed by patient and profession: the patient meets the same person every time.
        return roles[(self.number + len(profession)) % len(roles)]


def patient_resources(
    number: int,
    seed: int,
    staff: Staff,
    rule: PersonnummerRule,
    canonicals: Canonicals,
    clock: Clock,
) -> list[dict[str, Any]]:
    """Every resource of demo patient `number`; patient 1 is Tolvan Tolvansson."""
    rng = random.Random(f"patientkontrakt-demo:{seed}:patient:{number}")  # noqa: S311
    if number == 1:
        scenario = SCENARIOS_BY_KEY["aldre"]
        male, born, pnr = True, TOLVAN_BIRTH_DATE, TOLVAN_PERSONNUMMER
        given, family = "Tolvan", "Tolvansson"
    else:
        scenario = rng.choices(SCENARIOS, weights=[s.weight for s in SCENARIOS])[0]
        male = rng.random() < 0.5
        pnr, born = rule.issue(birth_date(rng, *scenario.born), male)
        given, family = given_name(rng, male, born), family_name(rng)
    centre = rng.choice(HEALTH_CENTRES)
    ctx = _Context(number, rng, staff, canonicals, clock, scenario, centre, f"{given} {family}")
    doctor = ctx.role("gp", "lakare")
    ctx.out.append(_patient(ctx, pnr, given, family, male, born, doctor))
    conditions = _conditions(ctx, doctor)
    goals = _goals(ctx, conditions)
    activities, units = _activities(ctx, conditions, goals)
    teams = _care_teams(ctx, doctor, [u for u in SPECIALIST_UNITS if u in units])
    ctx.out.append(_care_plan(ctx, doctor, conditions, goals, teams, activities))
    return ctx.out


def _patient(
    ctx: _Context, pnr: str, given: str, family: str, male: bool, born: dt.date, doctor: Role
) -> dict[str, Any]:
    centre = UNITS_BY_KEY[ctx.centre]
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id(ctx.number),
        "meta": meta(ctx.canonicals, "pk-patient"),
        "identifier": [{"use": "official", "system": PERSONNUMMER, "value": pnr}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": phone(ctx.number), "use": "mobile"}],
        "gender": "male" if male else "female",
        "birthDate": born.isoformat(),
        "address": [home_address(ctx.rng, centre.town if ctx.rng.random() < 0.8 else TOWNS[4])],
        "communication": [
            {
                "language": {
                    "coding": [{"system": "urn:ietf:bcp:47", "code": "sv", "display": "svenska"}]
                },
                "preferred": True,
            }
        ],
        "generalPractitioner": [ref("Organization", centre.id, centre.name), doctor.reference()],
    }
    if ctx.scenario.key == "ungdom":
        guardian_male = ctx.rng.random() < 0.5
        patient["contact"] = [
            {
                "relationship": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                                "code": "N",
                            }
                        ],
                        "text": "Vårdnadshavare",
                    }
                ],
                "name": {
                    "family": family,
                    "given": [given_name(ctx.rng, guardian_male, dt.date(1980, 1, 1))],
                },
                "telecom": [{"system": "phone", "value": phone(ctx.number + 47)}],
            }
        ]
    return patient


def _conditions(ctx: _Context, doctor: Role) -> list[dict[str, Any]]:
    choices = ctx.scenario.conditions
    # Mental ill-health (the scenarios followed with PHQ-9 or GAD-7): the main diagnosis varies.
    main = ctx.rng.choice(choices) if ctx.scenario.goal_measure else choices[0]
    others = [c for c in choices if c != main]
    picked = [main, ctx.rng.choice(others)] if ctx.rng.random() < 0.4 else [main]
    out = []
    for n, (code, display) in enumerate(picked, start=1):
        onset = -ctx.rng.randint(60, 900)
        condition = {
            "resourceType": "Condition",
            "id": f"demo-condition-{ctx.suffix}-{n}",
            "meta": meta(ctx.canonicals),
            "clinicalStatus": _coding(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active"
            ),
            "verificationStatus": _coding(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"
            ),
            "category": [
                _coding(
                    "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item"
                )
            ],
            "code": {
                "coding": [{"system": ICD10SE, "code": code, "display": display}],
                "text": display,
            },
            "subject": ctx.patient,
            "onsetDateTime": ctx.clock.date(onset),
            "recordedDate": ctx.clock.date(onset + ctx.rng.randint(0, 30)),
            "asserter": doctor.reference(),
        }
        ctx.out.append(condition)
        out.append(condition)
    return out


def _goals(ctx: _Context, conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    scenario = ctx.scenario
    clinical: dict[str, Any] = {
        "resourceType": "Goal",
        "id": f"demo-goal-{ctx.suffix}-1",
        "meta": meta(ctx.canonicals),
        "lifecycleStatus": "active",
        "achievementStatus": _coding(
            "http://terminology.hl7.org/CodeSystem/goal-achievement", "in-progress"
        ),
        "description": {"text": _goal_text(scenario, conditions)},
        "subject": ctx.patient,
        "startDate": ctx.clock.date(-ctx.rng.randint(20, 200)),
        "target": [{"dueDate": ctx.clock.date(ctx.rng.randint(60, 240))}],
        "expressedBy": ctx.role("gp", "lakare").reference(),
        "addresses": [ref("Condition", c["id"]) for c in conditions],
    }
    if scenario.goal_measure is not None:
        code, display = _goal_measure(conditions)
        clinical["target"][0]["measure"] = {
            "coding": [{"system": LOINC, "code": code, "display": display}]
        }
        clinical["target"][0]["detailRange"] = {"high": {"value": 9}}
    goals = [clinical]
    if ctx.number == 1 or ctx.rng.random() < 0.75:
        goals.append(
            {
                "resourceType": "Goal",
                "id": f"demo-goal-{ctx.suffix}-2",
                "meta": meta(ctx.canonicals),
                "lifecycleStatus": "active",
                "category": [{"text": OWN_GOAL_TEXT}],
                "description": {"text": ctx.rng.choice(scenario.own_goals)},
                "subject": ctx.patient,
                "startDate": clinical["startDate"],
                "expressedBy": ctx.patient,
                "note": [{"text": f"{OWN_GOAL_TEXT}, med patientens egna ord."}],
            }
        )
    ctx.out.extend(goals)
    return goals


def _anxiety(conditions: list[dict[str, Any]]) -> bool:
    return str(conditions[0]["code"]["coding"][0]["code"]).startswith("F41")


def _goal_text(scenario: Scenario, conditions: list[dict[str, Any]]) -> str:
    if scenario.goal_measure is None:
        return scenario.goal
    return GAD_GOAL if _anxiety(conditions) else PHQ_GOAL


def _goal_measure(conditions: list[dict[str, Any]]) -> tuple[str, str]:
    """GAD-7 for an anxiety disorder as main diagnosis, PHQ-9 otherwise."""
    return GAD7_TOTAL if _anxiety(conditions) else PHQ9_TOTAL


def _care_teams(ctx: _Context, doctor: Role, units: list[str]) -> list[dict[str, Any]]:
    """The health centre's team (fast läkarkontakt + fast vårdkontakt), then one per unit."""
    contact = ctx.role("gp", ctx.rng.choice(ctx.scenario.contacts))
    start = ctx.clock.date(-ctx.rng.randint(120, 1500))
    members = [(ROLE_FAST_LAKARKONTAKT, doctor), (ROLE_FAST_VARDKONTAKT, contact)]
    teams = [_care_team(ctx, f"demo-careteam-{ctx.suffix}", ctx.centre, members, start)]
    for unit in units:
        nurse = ctx.role(unit, "sjukskoterska")
        teams.append(
            _care_team(
                ctx,
                f"demo-careteam-{ctx.suffix}-{unit}",
                unit,
                [(ROLE_FAST_VARDKONTAKT, nurse)],
                ctx.clock.date(-ctx.rng.randint(20, 300)),
            )
        )
    ctx.out.extend(teams)
    return teams


def _care_team(
    ctx: _Context, team_id: str, unit_key: str, members: list[tuple[str, Role]], start: str
) -> dict[str, Any]:
    unit = UNITS_BY_KEY[unit_key]
    titles = {
        ROLE_FAST_LAKARKONTAKT: "Fast läkarkontakt",
        ROLE_FAST_VARDKONTAKT: "Fast vårdkontakt",
    }
    return {
        "resourceType": "CareTeam",
        "id": team_id,
        "meta": meta(ctx.canonicals, "pk-careteam"),
        "extension": [information_holder(ctx.canonicals, ref("Organization", unit.id, unit.name))],
        "status": "active",
        "category": [
            {
                "coding": [
                    {
                        "system": LOINC,
                        "code": CARE_TEAM_CATEGORY[0],
                        "display": CARE_TEAM_CATEGORY[1],
                    }
                ]
            }
        ],
        "name": f"{' och '.join(titles[r] for r, _ in members).capitalize()}, {unit.name}",
        "subject": ctx.patient,
        "period": {"start": start},
        "participant": [
            {
                "role": [
                    {
                        "coding": [
                            {
                                "system": ctx.canonicals.care_team_role,
                                "code": code,
                                "display": titles[code],
                            }
                        ]
                    }
                ],
                "member": member.reference(),
                "period": {"start": start},
            }
            for code, member in members
        ],
        "managingOrganization": [ref("Organization", unit.id, unit.name)],
    }


def _activities(
    ctx: _Context, conditions: list[dict[str, Any]], goals: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], set[str]]:
    """The plan's activities, and the units whose staff performs one of them."""
    reasons = [ref("Condition", c["id"]) for c in conditions]
    own_goal = [ref("Goal", g["id"]) for g in goals if g["expressedBy"] == ctx.patient]
    clinical_goal = [ref("Goal", goals[0]["id"])]
    activities = []
    units: set[str] = set()
    visits = 0
    for step in ctx.scenario.steps:
        if step.chance < 1 and ctx.rng.random() >= step.chance:
            continue
        detail: dict[str, Any] = {}
        if step.code is not None:
            detail["code"] = {"text": step.code}
        detail["status"] = "in-progress"
        detail["description"] = step.description
        if step.per_week is not None:
            detail["scheduledTiming"] = {"repeat": _repeat(step.per_week)}
        elif step.when is not None:
            detail["scheduledString"] = step.when
        if step.performer == "patient":
            detail["performer"] = [ctx.patient]
            detail["goal"] = own_goal or clinical_goal
        elif step.performer.startswith("org:"):
            unit = UNITS_BY_KEY[step.performer[4:]]
            detail["performer"] = [ref("Organization", unit.id, unit.name)]
            detail["goal"] = own_goal or clinical_goal
        else:
            _, unit_key, profession = step.performer.split(":")
            role = ctx.role(unit_key, profession)
            units.add(role.unit.key)
            detail["performer"] = [role.reference()]
            detail["goal"] = clinical_goal
            if step.visit:
                appointment = _appointment(ctx, step, role, visits, reasons)
                visits += 1
                ctx.out.append(appointment)
                activities.append(
                    {"reference": ref("Appointment", appointment["id"], appointment["description"])}
                )
                continue
            detail["status"] = "not-started"
        activities.append({"detail": {k: detail[k] for k in _DETAIL_ORDER if k in detail}})
    return activities, units


_DETAIL_ORDER = (
    "code",
    "reasonReference",
    "goal",
    "status",
    "scheduledTiming",
    "scheduledString",
    "performer",
    "description",
)


def _repeat(per_week: float) -> dict[str, Any]:
    if per_week >= 7:
        return {"frequency": round(per_week / 7), "period": 1, "periodUnit": "d"}
    return {"frequency": round(per_week), "period": 1, "periodUnit": "wk"}


def _appointment(
    ctx: _Context, step: Step, role: Role, index: int, reasons: list[dict[str, Any]]
) -> dict[str, Any]:
    """The first visit is always agreed and upcoming; later ones vary."""
    rng = ctx.rng
    draw = rng.random()
    if index == 0 or draw < 0.55:
        status, days = "booked", rng.randint(1, 60)
    elif draw < 0.85:
        status, days = "fulfilled", -rng.randint(3, 120)
    else:
        status, days = "proposed", rng.randint(7, 45)
    profession = role.profession.key
    minutes = MINUTES[profession]
    start = ctx.clock.local(days, rng.randint(8, 15), rng.choice((0, 15, 30)))
    end = start + dt.timedelta(minutes=minutes)
    video = profession in ("psykolog", "kurator") and rng.random() < 0.3
    instruction = VIDEO_INSTRUCTION if video else step.instruction or INSTRUCTIONS[profession]
    patient_status = "needs-action" if status == "proposed" else "accepted"
    created = min(start.date() - dt.timedelta(days=rng.randint(7, 40)), ctx.clock.today)
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": f"demo-appointment-{ctx.suffix}-{index + 1}",
        "meta": meta(ctx.canonicals, "pk-appointment"),
        "extension": [
            information_holder(ctx.canonicals, ref("Organization", role.unit.id, role.unit.name))
        ],
        "status": status,
        "appointmentType": _coding(APPOINTMENT_TYPE, "FOLLOWUP" if index else "ROUTINE"),
        "description": f"Videobesök: {step.description}" if video else step.description,
        "start": instant(start),
        "end": instant(end),
        "minutesDuration": minutes,
        "created": created.isoformat(),
        "patientInstruction": instruction,
        "participant": [
            {"actor": ctx.patient, "required": "required", "status": patient_status},
            {"actor": role.reference(), "required": "required", "status": "accepted"},
        ],
    }
    if role.unit.key != "socialtjanst":
        appointment["reasonReference"] = reasons
    return appointment


def _care_plan(
    ctx: _Context,
    doctor: Role,
    conditions: list[dict[str, Any]],
    goals: list[dict[str, Any]],
    teams: list[dict[str, Any]],
    activities: list[dict[str, Any]],
) -> dict[str, Any]:
    scenario = ctx.scenario
    centre = UNITS_BY_KEY[ctx.centre]
    plan_type = scenario.plan_type
    if scenario.key in ("aldre", "rehab") and ctx.rng.random() < 0.25:
        plan_type = "SPU"  # made before discharge from the hospital
    approved = ctx.number == 1 or ctx.rng.random() < 0.85
    start = ctx.clock.date(-ctx.rng.randint(130, 400))  # before the earliest visit
    contributors = [ctx.patient, *(t["participant"][-1]["member"] for t in teams)]
    for activity in activities:
        performer = activity.get("detail", {}).get("performer", [{}])[0]
        if performer.get("type") == "Organization" and performer not in contributors:
            contributors.append(performer)
    note = (
        f"Planen är gjord tillsammans med {ctx.name}, som vet vilka som är fast läkarkontakt "
        "och fast vårdkontakt och hur de nås. Planen följs upp vid varje besök."
    )
    if not approved:
        note += " Patienten har ännu inte godkänt planen; den visas inte i 1177."
    return {
        "resourceType": "CarePlan",
        "id": f"demo-careplan-{ctx.suffix}",
        "meta": meta(ctx.canonicals, "pk-careplan"),
        "extension": [
            {"url": ctx.canonicals.approved_for_patient, "valueBoolean": approved},
            information_holder(ctx.canonicals, ref("Organization", centre.id, centre.name)),
        ],
        "status": "active",
        "intent": "plan",
        "category": [
            {
                "coding": [
                    {
                        "system": ctx.canonicals.contract_category,
                        "code": CATEGORY_PATIENTKONTRAKT,
                        "display": "Patientkontrakt",
                    }
                ]
            },
            {
                "coding": [
                    {
                        "system": ctx.canonicals.plan_type,
                        "code": plan_type,
                        "display": PLAN_TYPES[plan_type],
                    }
                ]
            },
        ],
        "title": f"Sammanhållen planering: {scenario.title}",
        "description": f"{PLAN_TYPES[plan_type]} för {ctx.name}.",
        "subject": ctx.patient,
        "period": {"start": start},
        "created": start,
        "author": doctor.reference(),
        "contributor": contributors,
        "careTeam": [ref("CareTeam", t["id"], t["name"]) for t in teams],
        "addresses": [ref("Condition", c["id"], c["code"]["text"]) for c in conditions],
        "goal": [ref("Goal", g["id"]) for g in goals],
        "activity": activities,
        "note": [{"text": note}],
    }


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}
