"""Which rows a caller may see, as SQL over the search index: patient compartment, the care
relation (vårdrelation) and spärr.

Each function returns a RowFilter (a condition on an alias of `resource`) or a subquery, so the
same rule applies unchanged to searches, includes, chains, `_has`, history and single reads,
and visibility never costs more than one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from sqlalchemy import ColumnElement, FromClause, Select, and_, or_, select, true, tuple_

from patientkontrakt.contract.vocabulary import CATEGORY_SPARR
from patientkontrakt.fhir.registry import RESOURCE_TYPES, SERVER_WRITTEN_TYPES
from patientkontrakt.search.parameters import patient_compartment
from patientkontrakt.search.references import local_target
from patientkontrakt.store.tables import RowFilter, reference_index, token_index

DEFINITIONAL_TYPES = frozenset(
    {
        "ActivityDefinition",
        "CapabilityStatement",
        "CodeSystem",
        "Measure",
        "PlanDefinition",
        "Questionnaire",
        "SearchParameter",
        "StructureDefinition",
        "ValueSet",
    }
)
"""Definitions that describe no one: visible to every caller whose scopes allow the type."""

PLAN_PARTY_TYPES = ("Practitioner", "PractitionerRole", "Organization")
"""The people and organisations a patient may see when his own plan names them."""

_PLAN_TYPES = ("CarePlan", "CareTeam", "Appointment", "EpisodeOfCare", "ServiceRequest")


@cache
def outside_patient_compartment() -> frozenset[str]:
    """Types no patient's compartment holds (practitioners, organisations, definitions)."""
    return frozenset(RESOURCE_TYPES) - frozenset(patient_compartment()) - {"Patient"}


def compartment_members(
    patients: Select[tuple[str]] | str, base: str, types: Sequence[str] | None = None
) -> Select[tuple[str, str]]:
    """(type, id) of every resource (of `types`, default all) in the compartment of the given
    Patient(s), Patients themselves excluded."""
    ref = reference_index.alias()
    by_type = [
        and_(ref.c.resource_type == t, ref.c.param.in_(params))
        for t, params in sorted(patient_compartment().items())
        if t != "Patient" and (types is None or t in types)
    ]
    target = (
        ref.c.target_id == patients if isinstance(patients, str) else ref.c.target_id.in_(patients)
    )
    return select(ref.c.resource_type, ref.c.resource_id).where(
        ref.c.target_type == "Patient", target, or_(*by_type), local_target(base, ref)
    )


def _in(rows: FromClause, pairs: Select[tuple[str, str]]) -> ColumnElement[bool]:
    return tuple_(rows.c.resource_type, rows.c.resource_id).in_(pairs)


def plan_parties(patient_id: str, base: str) -> Select[tuple[str, str]]:
    """Practitioners, roles and organisations the patient's plans, teams and appointments
    reference, and the practitioner and organisation of each such role."""
    ref = reference_index.alias()
    direct = select(ref.c.target_type, ref.c.target_id).where(
        ref.c.target_type.in_(PLAN_PARTY_TYPES),
        tuple_(ref.c.resource_type, ref.c.resource_id).in_(
            compartment_members(patient_id, base, _PLAN_TYPES)
        ),
        local_target(base, ref),
    )
    roles = direct.subquery()
    hop = reference_index.alias()
    via_roles = select(hop.c.target_type, hop.c.target_id).where(
        hop.c.resource_type == "PractitionerRole",
        hop.c.param.in_(("practitioner", "organization")),
        hop.c.resource_id.in_(
            select(roles.c.target_id).where(roles.c.target_type == "PractitionerRole")
        ),
        local_target(base, hop),
    )
    return direct.union(via_roles)  # type: ignore[return-value]


def patient_view(patient_id: str, base: str) -> RowFilter:
    """What a patient sees (SMART patient context): his own compartment, the parties his
    plan names, and definitions.

    Not the audit trail: its records name other patients and the clinicians' addresses, so a
    patient gets his log extract (loggutdrag) from the care provider, not through the API.
    """
    own_types = [t for t in patient_compartment() if t not in SERVER_WRITTEN_TYPES]
    members = compartment_members(patient_id, base, own_types)
    parties = plan_parties(patient_id, base)

    def visible(rows: FromClause) -> ColumnElement[bool]:
        return or_(
            and_(rows.c.resource_type == "Patient", rows.c.resource_id == patient_id),
            _in(rows, members),
            and_(rows.c.resource_type.in_(PLAN_PARTY_TYPES), _in(rows, parties)),
            rows.c.resource_type.in_(DEFINITIONAL_TYPES),
        )

    return visible


def _active(resource_type: str) -> Select[tuple[str]]:
    token = token_index.alias()
    return select(token.c.resource_id).where(
        token.c.resource_type == resource_type,
        token.c.param == "status",
        token.c.code == "active",
    )


def _patients_of_active(
    resource_type: str, ids: Select[tuple[str]], base: str
) -> Select[tuple[str]]:
    """The `patient` of those of `ids` (CareTeams or CarePlans) whose status is active."""
    link = reference_index.alias()
    return select(link.c.target_id).where(
        link.c.resource_type == resource_type,
        link.c.param == "patient",
        link.c.target_type == "Patient",
        link.c.resource_id.in_(ids),
        link.c.resource_id.in_(_active(resource_type)),
        local_target(base, link),
    )


def related_patients(
    role_id: str, practitioner_id: str | None, organization_id: str | None, base: str
) -> Select[tuple[str]]:
    """Ids of the patients a clinician has a care relation (vårdrelation) with.

    The role (or its practitioner) is a participant of an active CareTeam of the patient, or
    the role's organisation (directly, or through one of its roles) performs an activity of an
    active CarePlan of the patient.
    """
    member = reference_index.alias()
    who = [and_(member.c.target_type == "PractitionerRole", member.c.target_id == role_id)]
    if practitioner_id is not None:
        who.append(
            and_(member.c.target_type == "Practitioner", member.c.target_id == practitioner_id)
        )
    teams = select(member.c.resource_id).where(
        member.c.resource_type == "CareTeam",
        member.c.param == "participant",
        or_(*who),
        local_target(base, member),
    )
    by_team = _patients_of_active("CareTeam", teams, base)
    if organization_id is None:
        return by_team
    org_role = reference_index.alias()
    roles_of_org = select(org_role.c.resource_id).where(
        org_role.c.resource_type == "PractitionerRole",
        org_role.c.param == "organization",
        org_role.c.target_type == "Organization",
        org_role.c.target_id == organization_id,
    )
    performer = reference_index.alias()
    plans = select(performer.c.resource_id).where(
        performer.c.resource_type == "CarePlan",
        performer.c.param == "performer",
        or_(
            and_(
                performer.c.target_type == "Organization",
                performer.c.target_id == organization_id,
            ),
            and_(
                performer.c.target_type == "PractitionerRole",
                performer.c.target_id.in_(roles_of_org),
            ),
        ),
        local_target(base, performer),
    )
    by_plan = _patients_of_active("CarePlan", plans, base)
    return by_team.union(by_plan)  # type: ignore[return-value]


def blocked_by_sparr(
    organization_id: str | None, base: str, category_system: str
) -> Select[tuple[str, str]]:
    """(type, id) of resources a spärr hides from `organization_id`.

    A spärr is an active Consent with category `sparr` whose `organization` is the care
    provider holding the information: the patient's resources whose `information-holder` is
    that provider are hidden from every other organisation.
    """
    status = token_index.alias()
    category = token_index.alias()
    consent_org = reference_index.alias()
    consent_patient = reference_index.alias()
    holder = reference_index.alias()
    member = reference_index.alias()
    active_sparr = and_(
        consent_org.c.resource_id.in_(
            select(status.c.resource_id).where(
                status.c.resource_type == "Consent",
                status.c.param == "status",
                status.c.code == "active",
            )
        ),
        consent_org.c.resource_id.in_(
            select(category.c.resource_id).where(
                category.c.resource_type == "Consent",
                category.c.param == "category",
                category.c.code == CATEGORY_SPARR,
                category.c.system == category_system,
            )
        ),
    )
    other_holder = holder.c.target_id != organization_id if organization_id else true()
    return (
        select(holder.c.resource_type, holder.c.resource_id)
        .select_from(
            holder.join(
                consent_org,
                and_(
                    consent_org.c.resource_type == "Consent",
                    consent_org.c.param == "organization",
                    consent_org.c.target_type == "Organization",
                    consent_org.c.target_id == holder.c.target_id,
                ),
            )
            .join(
                consent_patient,
                and_(
                    consent_patient.c.resource_type == "Consent",
                    consent_patient.c.resource_id == consent_org.c.resource_id,
                    consent_patient.c.param == "patient",
                    consent_patient.c.target_type == "Patient",
                ),
            )
            .join(
                member,
                and_(
                    member.c.resource_type == holder.c.resource_type,
                    member.c.resource_id == holder.c.resource_id,
                    member.c.target_type == "Patient",
                    member.c.target_id == consent_patient.c.target_id,
                ),
            )
        )
        .where(
            holder.c.param == "information-holder",
            holder.c.target_type == "Organization",
            other_holder,
            active_sparr,
            local_target(base, holder),
        )
    )


def clinician_view(
    role_id: str,
    practitioner_id: str | None,
    organization_id: str | None,
    base: str,
    category_system: str,
) -> RowFilter:
    """What a clinician sees: everything outside patients' compartments, and the data of
    patients he has a care relation with, minus what a spärr hides from his organisation."""
    patients = related_patients(role_id, practitioner_id, organization_id, base)
    members = compartment_members(patients, base)
    blocked = blocked_by_sparr(organization_id, base, category_system)
    outside = sorted(outside_patient_compartment())

    def visible(rows: FromClause) -> ColumnElement[bool]:
        return and_(
            or_(
                rows.c.resource_type.in_(outside),
                and_(rows.c.resource_type == "Patient", rows.c.resource_id.in_(patients)),
                _in(rows, members),
            ),
            ~_in(rows, blocked),
        )

    return visible
