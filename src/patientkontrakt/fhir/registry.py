"""The resource types this server keeps, resolved once at start-up.

Adding a type is a line here; routes, validation and the CapabilityStatement follow from it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from patientkontrakt.outcomes import bad_request, not_found

FHIR_VERSION = "4.0.1"

SERVER_WRITTEN_TYPES = frozenset({"AuditEvent"})
"""The audit trail: written by the server only; nobody creates, changes or deletes it."""

RESOURCE_TYPES: tuple[str, ...] = (
    "ActivityDefinition",
    "Appointment",
    "AuditEvent",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CodeSystem",
    "Condition",
    "Consent",
    "EpisodeOfCare",
    "Goal",
    "Measure",
    "MeasureReport",
    "MedicationRequest",
    "Observation",
    "Organization",
    "Patient",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "StructureDefinition",
    "Subscription",
    "Task",
    "ValueSet",
)

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def model_class(resource_type: str) -> Any:
    """The fhir.resources R4B model class of a supported type."""
    return _model_class(resource_type)


@cache
def _model_class(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def require_type(resource_type: str) -> str:
    """`resource_type` if this server keeps it, else a 404 OperationOutcome."""
    if resource_type not in _TYPES:
        raise not_found(f"Resource type '{resource_type}' is not supported by this server")
    return resource_type


def is_resource_type(name: str) -> bool:
    """True for a resource type this server keeps."""
    return name in _TYPES


def require_id(resource_id: str) -> str:
    """`resource_id` if it is a valid FHIR id, else a 400 OperationOutcome."""
    if not _ID.fullmatch(resource_id):
        raise bad_request(f"'{resource_id}' is not a valid FHIR id (1-64 of A-Z a-z 0-9 - .)")
    return resource_id


def is_valid_id(resource_id: str) -> bool:
    """True for a valid FHIR logical id."""
    return _ID.fullmatch(resource_id) is not None


_TYPES = frozenset(RESOURCE_TYPES)


# The R4 data types a choice element (`value[x]`) may take, as their names appear in element
# names (`valueString`, `valueCodeableConcept`).
PRIMITIVE_TYPE_NAMES = frozenset(
    {
        "Base64Binary",
        "Boolean",
        "Canonical",
        "Code",
        "Date",
        "DateTime",
        "Decimal",
        "Id",
        "Instant",
        "Integer",
        "Markdown",
        "Oid",
        "PositiveInt",
        "String",
        "Time",
        "UnsignedInt",
        "Uri",
        "Url",
        "Uuid",
    }
)
COMPLEX_TYPE_NAMES = frozenset(
    {
        "Address",
        "Age",
        "Annotation",
        "Attachment",
        "CodeableConcept",
        "Coding",
        "ContactPoint",
        "Count",
        "Distance",
        "Duration",
        "HumanName",
        "Identifier",
        "Money",
        "Period",
        "Quantity",
        "Range",
        "Ratio",
        "Reference",
        "SampledData",
        "Signature",
        "Timing",
        "ContactDetail",
        "Contributor",
        "DataRequirement",
        "Expression",
        "ParameterDefinition",
        "RelatedArtifact",
        "TriggerDefinition",
        "UsageContext",
        "Dosage",
        "Meta",
    }
)
CHOICE_TYPE_NAMES = PRIMITIVE_TYPE_NAMES | COMPLEX_TYPE_NAMES
"""Every data type name a choice element's name may end in."""
