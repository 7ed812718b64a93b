"""Profile validation (validation/profiles.py, structure.py, checks.py): every kind of constraint
with a failing and a passing instance, on small StructureDefinitions written here, then the
product's own profiles and their examples in `fhir_profiles/`."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patientkontrakt import canonical
from patientkontrakt.canonical import rebase
from patientkontrakt.contract.vocabulary import DEFAULT_CANONICAL_BASE
from patientkontrakt.outcomes import FhirError, Issue
from patientkontrakt.validation.base import validate_resource
from patientkontrakt.validation.definitions import load
from patientkontrakt.validation.profiles import ProfileSet, profile_set

BASE = "https://patientkontrakt.se/fhir"
PATIENT_PROFILE = f"{BASE}/StructureDefinition/test-patient"
CARE_PLAN_PROFILE = f"{BASE}/StructureDefinition/test-careplan"
FLAG = f"{BASE}/StructureDefinition/test-flag"
STATUS_SYSTEM = f"{BASE}/CodeSystem/test-status"
CATEGORY_SYSTEM = f"{BASE}/CodeSystem/test-category"
GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
LOCAL = "urn:example:local"
TOLVAN = "191212121212"
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "fhir_profiles" / "examples"


@pytest.fixture(autouse=True)
def default_base() -> Iterator[None]:
    """validate_resource uses the configured canonical base; these tests expect the default."""
    canonical.configure(DEFAULT_CANONICAL_BASE)
    yield
    canonical.configure(DEFAULT_CANONICAL_BASE)


def el(element_id: str, minimum: int = 0, maximum: str = "*", **extra: Any) -> dict[str, Any]:
    """A snapshot element; its path is its id without slice names."""
    path = re.sub(r":[^.]+", "", element_id)
    return {"id": element_id, "path": path, "min": minimum, "max": maximum, **extra}


def constraint(key: str, expression: str, severity: str = "error") -> dict[str, Any]:
    return {"key": key, "severity": severity, "human": f"rule {key}", "expression": expression}


def structure(name: str, type_: str, kind: str, elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "id": name,
        "url": f"{BASE}/StructureDefinition/{name}",
        "name": name,
        "status": "draft",
        "kind": kind,
        "abstract": False,
        "type": type_,
        "derivation": "constraint",
        "snapshot": {"element": elements},
    }


TEST_PATIENT = structure(
    "test-patient",
    "Patient",
    "resource",
    [
        el(
            "Patient",
            0,
            "*",
            constraint=[
                constraint("ele-1", "hasValue() or (children().count() > id.count())"),
                constraint("tst-1", "gender.exists() implies birthDate.exists()"),
                constraint("tst-w", "false", severity="warning"),
            ],
        ),
        el(
            "Patient.extension",
            slicing={"discriminator": [{"type": "value", "path": "url"}], "rules": "closed"},
        ),
        el("Patient.extension:flag", 0, "1", type=[{"code": "Extension", "profile": [FLAG]}]),
        el(
            "Patient.identifier",
            slicing={"discriminator": [{"type": "value", "path": "system"}], "rules": "open"},
        ),
        el("Patient.identifier:pnr", 1, "1"),
        el("Patient.identifier:pnr.system", 1, "1", fixedUri=PERSONNUMMER),
        el("Patient.identifier:pnr.value", 1, "1"),
        el(
            "Patient.identifier:local",
            0,
            "1",
            constraint=[constraint("tst-3", "value.matches('^[A-Z]{3}[0-9]{2}$')")],
        ),
        el("Patient.identifier:local.system", 1, "1", fixedUri=LOCAL),
        el("Patient.active", 0, "1", fixedBoolean=True),
        el("Patient.name", 1, "1"),
        el("Patient.name.family", 1, "1"),
        el(
            "Patient.gender",
            0,
            "1",
            type=[{"code": "code"}],
            binding={"strength": "required", "valueSet": f"{BASE}/ValueSet/test-gender"},
        ),
        el("Patient.birthDate", 0, "1"),
        el("Patient.deceased[x]", 0, "1", type=[{"code": "boolean"}]),
        el(
            "Patient.maritalStatus",
            0,
            "1",
            type=[{"code": "CodeableConcept"}],
            patternCodeableConcept={"coding": [{"system": STATUS_SYSTEM}]},
            binding={"strength": "required", "valueSet": f"{BASE}/ValueSet/test-status|0.1.0"},
        ),
        el(
            "Patient.contact",
            constraint=[constraint("tst-2", "telecom.exists() or address.exists()")],
        ),
        el("Patient.contact.relationship", 1, "1"),
        el("Patient.contact.name", 0, "1"),
        el("Patient.contact.telecom"),
        el("Patient.contact.address", 0, "1"),
        el(
            "Patient.generalPractitioner",
            type=[
                {
                    "code": "Reference",
                    "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Practitioner"],
                }
            ],
        ),
    ],
)

TEST_FLAG = structure(
    "test-flag",
    "Extension",
    "complex-type",
    [
        el(
            "Extension",
            0,
            "*",
            constraint=[constraint("ext-1", "extension.exists() != value.exists()")],
        ),
        el("Extension.extension", 0, "0"),
        el("Extension.url", 1, "1", fixedUri=FLAG),
        el("Extension.value[x]", 1, "1", type=[{"code": "boolean"}]),
    ],
)

TEST_CARE_PLAN = structure(
    "test-careplan",
    "CarePlan",
    "resource",
    [
        el("CarePlan"),
        el("CarePlan.intent", 1, "1", fixedCode="plan"),
        el(
            "CarePlan.category",
            1,
            "*",
            slicing={"discriminator": [{"type": "pattern", "path": "$this"}], "rules": "open"},
        ),
        el(
            "CarePlan.category:contract",
            1,
            "1",
            patternCodeableConcept={"coding": [{"system": CATEGORY_SYSTEM, "code": "contract"}]},
        ),
        el(
            "CarePlan.activity",
            constraint=[constraint("cpl-3", "detail.empty() or reference.empty()")],
        ),
        el("CarePlan.activity.reference", 0, "1"),
        el("CarePlan.activity.detail", 0, "1"),
        el("CarePlan.activity.detail.status", 1, "1"),
        el("CarePlan.activity.detail.performer", 1, "*"),
    ],
)

CODE_SYSTEMS = [
    {
        "resourceType": "CodeSystem",
        "id": "test-status",
        "url": STATUS_SYSTEM,
        "status": "draft",
        "content": "complete",
        "concept": [{"code": "A", "concept": [{"code": "A1"}]}, {"code": "B"}],
    },
    {
        "resourceType": "CodeSystem",
        "id": "test-category",
        "url": CATEGORY_SYSTEM,
        "status": "draft",
        "content": "complete",
        "concept": [{"code": "contract"}, {"code": "other"}],
    },
]
VALUE_SETS = [
    {
        "resourceType": "ValueSet",
        "id": "test-status",
        "url": f"{BASE}/ValueSet/test-status",
        "status": "draft",
        "compose": {"include": [{"system": STATUS_SYSTEM}]},
    },
    {
        "resourceType": "ValueSet",
        "id": "test-gender",
        "url": f"{BASE}/ValueSet/test-gender",
        "status": "draft",
        "compose": {
            "include": [
                {"system": GENDER_SYSTEM, "concept": [{"code": "male"}, {"code": "female"}]}
            ]
        },
    },
]


def write_tree(folder: Path) -> Path:
    """A `fhir_profiles/`-like folder holding the definitions above."""
    files = {
        "StructureDefinition": [TEST_PATIENT, TEST_FLAG, TEST_CARE_PLAN],
        "CodeSystem": CODE_SYSTEMS,
        "ValueSet": VALUE_SETS,
    }
    for name, resources in files.items():
        (folder / name).mkdir(parents=True)
        for resource in resources:
            (folder / name / f"{resource['id']}.json").write_text(json.dumps(resource))
    return folder


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "fhir_profiles")


@pytest.fixture
def known(tree: Path) -> ProfileSet:
    return ProfileSet(load(tree))


def valid_patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "meta": {"profile": [PATIENT_PROFILE]},
        "extension": [{"url": FLAG, "valueBoolean": True}],
        "identifier": [
            {"system": PERSONNUMMER, "value": TOLVAN},
            {"system": LOCAL, "value": "ABC12"},
            {"system": "urn:example:other", "value": "x"},
        ],
        "active": True,
        "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
        "gender": "male",
        "birthDate": "1912-12-12",
        "deceasedBoolean": False,
        "maritalStatus": {"coding": [{"system": STATUS_SYSTEM, "code": "A1"}], "text": "a"},
        "contact": [
            {"relationship": [{"text": "dotter"}], "telecom": [{"system": "phone", "value": "1"}]},
            {"relationship": [{"text": "son"}], "address": {"city": "Göteborg"}},
        ],
        "generalPractitioner": [{"reference": "Practitioner/lakare"}],
    }


def valid_care_plan() -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "meta": {"profile": [CARE_PLAN_PROFILE]},
        "status": "active",
        "intent": "plan",
        "category": [
            {"text": "something else"},
            {"coding": [{"system": CATEGORY_SYSTEM, "code": "contract", "display": "Kontrakt"}]},
        ],
        "subject": {"reference": "Patient/tolvan"},
        "activity": [
            {"reference": {"reference": "Appointment/besok"}},
            {"detail": {"status": "scheduled", "performer": [{"reference": "Patient/tolvan"}]}},
        ],
    }


def found(issues: list[Issue]) -> list[tuple[str, str]]:
    """(code, expression) of each issue, sorted."""
    return sorted((i.code, i.expression[0]) for i in issues)


def patient_issues(known: ProfileSet, body: dict[str, Any]) -> list[tuple[str, str]]:
    issues = known.issues("Patient", body)
    for issue in issues:
        assert issue.severity == "error"
        assert issue.diagnostics.startswith(issue.expression[0] + ":"), issue
    return found(issues)


def test_valid_instances_pass(known: ProfileSet) -> None:
    body = valid_patient()
    assert known.issues("Patient", body) == []
    assert body == valid_patient()  # nothing is changed
    assert known.issues("CarePlan", valid_care_plan()) == []


# --- cardinality ------------------------------------------------------------------------------


def test_minimum_cardinality(known: ProfileSet) -> None:
    body = valid_patient()
    del body["name"]
    assert patient_issues(known, body) == [("required", "Patient.name")]
    diagnostics = known.issues("Patient", body)[0].diagnostics
    assert diagnostics == "Patient.name: at least 1 required by test-patient, found 0"


def test_maximum_cardinality(known: ProfileSet) -> None:
    body = valid_patient()
    body["name"].append({"family": "Tolvsson"})
    assert patient_issues(known, body) == [("structure", "Patient.name")]


def test_cardinality_inside_each_repetition_of_a_parent(known: ProfileSet) -> None:
    body = valid_patient()
    body["name"][0] = {"given": ["Tolvan"]}
    del body["contact"][1]["relationship"]
    body["contact"][0]["relationship"].append({"text": "barn"})
    assert patient_issues(known, body) == [
        ("required", "Patient.contact[1].relationship"),
        ("required", "Patient.name[0].family"),
        ("structure", "Patient.contact[0].relationship"),
    ]


def test_nested_cardinality_in_a_care_plan_activity(known: ProfileSet) -> None:
    body = valid_care_plan()
    del body["activity"][1]["detail"]["performer"]
    issues = known.issues("CarePlan", body)
    assert found(issues) == [("required", "CarePlan.activity[1].detail.performer")]


def test_a_primitive_given_only_by_its_extensions_is_present(known: ProfileSet) -> None:
    body = valid_patient()
    body["name"][0] = {"_family": {"extension": [{"url": "urn:x", "valueString": "y"}]}}
    assert patient_issues(known, body) == []


# --- fixed and pattern ------------------------------------------------------------------------


def test_fixed_value(known: ProfileSet) -> None:
    body = valid_patient()
    body["active"] = False
    assert patient_issues(known, body) == [("value", "Patient.active")]
    care_plan = valid_care_plan()
    care_plan["intent"] = "order"
    assert found(known.issues("CarePlan", care_plan)) == [("value", "CarePlan.intent")]


def test_pattern_is_contained_in_the_instance(known: ProfileSet) -> None:
    body = valid_patient()
    body["maritalStatus"] = {
        "coding": [
            {"system": "urn:example:other", "code": "x"},
            {"system": STATUS_SYSTEM, "code": "B", "display": "B"},
        ]
    }
    assert patient_issues(known, body) == []
    body["maritalStatus"] = {"coding": [{"system": "urn:example:other", "code": "B"}]}
    # Neither the pattern's system nor the required value set: two issues at the element.
    assert patient_issues(known, body) == [
        ("code-invalid", "Patient.maritalStatus"),
        ("value", "Patient.maritalStatus"),
    ]


# --- required bindings ------------------------------------------------------------------------


def test_required_binding_on_a_code(known: ProfileSet) -> None:
    body = valid_patient()
    body["gender"] = "other"  # in R4's value set, not in the profile's
    assert patient_issues(known, body) == [("code-invalid", "Patient.gender")]
    assert "'other'" in known.issues("Patient", body)[0].diagnostics


@pytest.mark.parametrize(("code", "ok"), [("A", True), ("A1", True), ("B", True), ("C", False)])
def test_required_binding_on_a_codeable_concept(known: ProfileSet, code: str, ok: bool) -> None:
    body = valid_patient()
    body["maritalStatus"] = {"coding": [{"system": STATUS_SYSTEM, "code": code}]}
    expected = [] if ok else [("code-invalid", "Patient.maritalStatus")]
    assert patient_issues(known, body) == expected


def test_a_binding_to_a_value_set_the_server_cannot_expand_is_not_checked(tree: Path) -> None:
    value_set = tree / "ValueSet" / "test-gender.json"
    content = json.loads(value_set.read_text())
    content["compose"]["include"] = [{"system": "http://snomed.info/sct"}]
    value_set.write_text(json.dumps(content))
    known = ProfileSet(load(tree))
    body = valid_patient()
    body["gender"] = "other"
    assert known.issues("Patient", body) == []


# --- slices -----------------------------------------------------------------------------------


def test_slice_minimum(known: ProfileSet) -> None:
    body = valid_patient()
    body["identifier"] = body["identifier"][1:]
    assert patient_issues(known, body) == [("required", "Patient.identifier")]
    assert "slice 'pnr'" in known.issues("Patient", body)[0].diagnostics


def test_slice_maximum(known: ProfileSet) -> None:
    body = valid_patient()
    body["identifier"].append({"system": PERSONNUMMER, "value": TOLVAN})
    assert patient_issues(known, body) == [("structure", "Patient.identifier")]
    assert "slice 'pnr': at most 1" in known.issues("Patient", body)[0].diagnostics


def test_the_slice_rules_apply_to_its_members_only(known: ProfileSet) -> None:
    body = valid_patient()
    del body["identifier"][0]["value"]  # pnr.value is 1..1
    body["identifier"][1]["value"] = "abc"  # the local slice's own invariant
    body["identifier"][2] = {"system": "urn:example:other"}  # open slicing: no rules
    assert patient_issues(known, body) == [
        ("invariant", "Patient.identifier[1]"),
        ("required", "Patient.identifier[0].value"),
    ]


def test_slices_told_apart_by_pattern(known: ProfileSet) -> None:
    body = valid_care_plan()
    body["category"] = [{"coding": [{"system": CATEGORY_SYSTEM, "code": "other"}]}]
    issues = known.issues("CarePlan", body)
    assert found(issues) == [("required", "CarePlan.category")]
    assert "slice 'contract'" in issues[0].diagnostics


def test_closed_slicing_refuses_other_members(known: ProfileSet) -> None:
    body = valid_patient()
    body["extension"].append({"url": "urn:example:extension", "valueString": "x"})
    assert patient_issues(known, body) == [("structure", "Patient.extension[1]")]


def test_extensions_are_checked_against_their_definition(known: ProfileSet) -> None:
    body = valid_patient()
    body["extension"] = [{"url": FLAG, "valueString": "ja"}]
    assert patient_issues(known, body) == [("structure", "Patient.extension[0].valueString")]
    body["extension"] = [{"url": FLAG, "extension": [{"url": "a", "valueString": "b"}]}]
    assert patient_issues(known, body) == [
        ("required", "Patient.extension[0].value"),
        ("structure", "Patient.extension[0].extension"),
    ]
    body["extension"] = [{"url": FLAG, "valueBoolean": True, "extension": [{"url": "a"}]}]
    assert ("invariant", "Patient.extension[0]") in patient_issues(known, body)  # ext-1
    body["extension"] = [{"url": FLAG, "valueBoolean": True}] * 2
    assert patient_issues(known, body) == [("structure", "Patient.extension")]


# --- invariants -------------------------------------------------------------------------------


def test_invariant_on_the_resource(known: ProfileSet) -> None:
    body = valid_patient()
    del body["birthDate"]
    issues = known.issues("Patient", body)
    assert found(issues) == [("invariant", "Patient")]
    assert issues[0].diagnostics == "Patient: tst-1: rule tst-1"


def test_invariant_on_a_repeating_element_names_the_repetition(known: ProfileSet) -> None:
    body = valid_patient()
    del body["contact"][1]["address"]
    assert patient_issues(known, body) == [("invariant", "Patient.contact[1]")]


def test_core_invariants_in_a_snapshot_are_evaluated(known: ProfileSet) -> None:
    body = valid_care_plan()
    body["activity"][1]["reference"] = {"reference": "Appointment/besok"}
    assert found(known.issues("CarePlan", body)) == [("invariant", "CarePlan.activity[1]")]


def test_warnings_and_ele_1_are_not_errors(known: ProfileSet) -> None:
    # tst-w (severity warning) is always false; ele-1 is left to the JSON rules of base.py.
    rules = {i.key for i in known.get(PATIENT_PROFILE).root.invariants}  # type: ignore[union-attr]
    assert rules == {"tst-1"}


# --- references and choice types --------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "ok"),
    [
        ("Practitioner/lakare", True),
        ("https://fhir.example.se/fhir/Practitioner/lakare/_history/2", True),
        ("#contained", True),
        ("urn:uuid:0f0e5d3a-9a43-4a39-9d0c-2f9a3f2a6b11", True),
        ("Organization/vardcentral", False),
        ("https://fhir.example.se/fhir/Organization/vc", False),
    ],
)
def test_reference_targets(known: ProfileSet, reference: str, ok: bool) -> None:
    body = valid_patient()
    body["generalPractitioner"] = [{"reference": reference}]
    expected = [] if ok else [("structure", "Patient.generalPractitioner[0]")]
    assert patient_issues(known, body) == expected


def test_reference_type_element(known: ProfileSet) -> None:
    body = valid_patient()
    body["generalPractitioner"] = [{"type": "Organization", "display": "Vårdcentralen"}]
    assert patient_issues(known, body) == [("structure", "Patient.generalPractitioner[0]")]


def test_choice_types_a_profile_does_not_allow(known: ProfileSet) -> None:
    body = valid_patient()
    del body["deceasedBoolean"]
    body["deceasedDateTime"] = "2026-01-01"
    assert patient_issues(known, body) == [("structure", "Patient.deceasedDateTime")]


# --- which profiles apply ---------------------------------------------------------------------


def test_only_claimed_or_named_profiles_apply(known: ProfileSet) -> None:
    body = valid_patient()
    del body["name"]
    del body["meta"]
    assert known.issues("Patient", body) == []
    assert found(known.issues("Patient", body, [PATIENT_PROFILE])) == [("required", "Patient.name")]
    body["meta"] = {"profile": [f"{PATIENT_PROFILE}|0.1.0", PATIENT_PROFILE]}
    assert found(known.issues("Patient", body)) == [("required", "Patient.name")]  # once


def test_unknown_profiles_are_ignored(known: ProfileSet) -> None:
    body = valid_patient()
    del body["name"]
    body["meta"] = {"profile": [f"{BASE}/StructureDefinition/not-there", "urn:example:profile"]}
    assert known.issues("Patient", body) == []


def test_a_profile_of_another_type_is_an_issue(known: ProfileSet) -> None:
    body = valid_patient()
    body["meta"] = {"profile": [CARE_PLAN_PROFILE]}
    assert found(known.issues("Patient", body)) == [("invalid", "Patient.meta.profile")]


def test_rebased_definitions_check_rebased_urls(tree: Path) -> None:
    other = "https://fhir.region.example/kontrakt"
    known = ProfileSet(load(tree, other))
    moved = f"{other}/StructureDefinition/test-patient"
    assert known.get(moved) is not None
    assert known.get(PATIENT_PROFILE) is None
    body = json.loads(json.dumps(valid_patient()).replace(BASE, other))
    assert known.issues("Patient", body) == []
    body["maritalStatus"]["coding"][0]["system"] = STATUS_SYSTEM  # the old base
    assert found(known.issues("Patient", body)) == [
        ("code-invalid", "Patient.maritalStatus"),
        ("value", "Patient.maritalStatus"),
    ]
    body["meta"] = {"profile": [PATIENT_PROFILE]}  # the old URL names nothing now
    assert known.issues("Patient", body) == []


def test_rebase_rewrites_only_urls_under_the_default_base() -> None:
    value = {
        "url": f"{BASE}/StructureDefinition/x",
        "list": [BASE, f"{BASE}|1.0", f"{BASE}#a", f"{BASE}x/y", "http://hl7.org/fhir"],
        "n": 1,
    }
    moved = rebase(value, "https://example.org/fhir/")
    assert moved == {
        "url": "https://example.org/fhir/StructureDefinition/x",
        "list": [
            "https://example.org/fhir",
            "https://example.org/fhir|1.0",
            "https://example.org/fhir#a",
            f"{BASE}x/y",
            "http://hl7.org/fhir",
        ],
        "n": 1,
    }
    assert value["url"] == f"{BASE}/StructureDefinition/x"  # a copy, the input untouched
    same = rebase(value, BASE)
    assert same == value
    assert same is not value


# --- the product's own profiles ---------------------------------------------------------------


def example_resources() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(EXAMPLES.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        if resource["resourceType"] == "Bundle":
            for index, entry in enumerate(resource.get("entry", [])):
                if "resource" in entry:
                    out.append((f"{path.name}#{index}", entry["resource"]))
        else:
            out.append((path.name, resource))
    return out


EXAMPLE_RESOURCES = example_resources()


def test_every_product_profile_is_compiled() -> None:
    known = profile_set(DEFAULT_CANONICAL_BASE)
    assert known is profile_set(DEFAULT_CANONICAL_BASE)  # compiled once per process
    for name, resource_type in [
        ("pk-careplan", "CarePlan"),
        ("pk-careteam", "CareTeam"),
        ("pk-appointment", "Appointment"),
        ("pk-patient", "Patient"),
        ("pk-practitionerrole", "PractitionerRole"),
        ("pk-organization", "Organization"),
    ]:
        profile = known.get(f"{DEFAULT_CANONICAL_BASE}/StructureDefinition/{name}")
        assert profile is not None, name
        assert (profile.type, profile.kind) == (resource_type, "resource")
        assert known.for_type(resource_type) == [profile.url]
    for extension in ("approved-for-patient", "information-holder"):
        profile = known.get(f"{DEFAULT_CANONICAL_BASE}/StructureDefinition/{extension}")
        assert profile is not None
        assert profile.type == "Extension"


@pytest.mark.parametrize(
    ("name", "resource"), EXAMPLE_RESOURCES, ids=[n for n, _ in EXAMPLE_RESOURCES]
)
def test_the_product_examples_pass(name: str, resource: dict[str, Any]) -> None:
    given = copy.deepcopy(resource)
    validate_resource(resource["resourceType"], given)
    assert given == resource


def test_the_examples_claim_the_product_profiles() -> None:
    claimed = {p for _, r in EXAMPLE_RESOURCES for p in r.get("meta", {}).get("profile", [])}
    assert f"{DEFAULT_CANONICAL_BASE}/StructureDefinition/pk-careplan" in claimed
    assert f"{DEFAULT_CANONICAL_BASE}/StructureDefinition/pk-patient" in claimed


def example(name: str) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return resource


def rejected(resource: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(FhirError) as caught:
        validate_resource(resource["resourceType"], resource)
    assert caught.value.status == 422
    return found(caught.value.issues)


def test_a_care_plan_activity_without_a_performer_is_refused() -> None:
    care_plan = example("CarePlan-tolvan.json")
    activity = next(i for i, a in enumerate(care_plan["activity"]) if "detail" in a)
    del care_plan["activity"][activity]["detail"]["performer"]
    issues = rejected(care_plan)
    assert ("required", f"CarePlan.activity[{activity}].detail.performer") in issues
    assert ("invariant", "CarePlan") in issues  # pk-cp-1 says the same for the whole plan


def test_the_product_care_plan_profile_rules() -> None:
    care_plan = example("CarePlan-tolvan.json")
    care_plan["intent"] = "proposal"
    care_plan["subject"] = {"reference": "Group/familj"}
    care_plan["category"] = [
        c for c in care_plan["category"] if c["coding"][0]["code"] != "patientkontrakt"
    ]
    assert rejected(care_plan) == [
        ("required", "CarePlan.category"),
        ("structure", "CarePlan.subject"),
        ("value", "CarePlan.intent"),
    ]


def test_the_product_extension_definitions_apply() -> None:
    care_plan = example("CarePlan-tolvan.json")
    approved = next(
        i for i, e in enumerate(care_plan["extension"]) if e["url"].endswith("approved-for-patient")
    )
    care_plan["extension"][approved] = {
        "url": care_plan["extension"][approved]["url"],
        "valueString": "ja",
    }
    assert rejected(care_plan) == [("structure", f"CarePlan.extension[{approved}].valueString")]


def test_the_product_organization_needs_an_hsa_id() -> None:
    organization = example("Organization-vardcentral-testby.json")
    organization["identifier"] = [
        i for i in organization["identifier"] if i["system"] != "urn:oid:1.2.752.29.4.19"
    ] or [{"system": "urn:example:local", "value": "vc"}]
    assert ("required", "Organization.identifier") in rejected(organization)


def test_contained_resources_must_be_referenced() -> None:
    care_plan = example("CarePlan-tolvan.json")
    care_plan["contained"] = [{"resourceType": "Organization", "id": "kommun", "name": "Kommunen"}]
    assert rejected(copy.deepcopy(care_plan)) == [("invariant", "CarePlan")]  # dom-3
    care_plan["note"] = [{"text": "Kontakt", "authorReference": {"reference": "#kommun"}}]
    validate_resource("CarePlan", care_plan)
