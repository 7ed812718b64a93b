"""The product's conformance resources in `fhir_profiles/`: StructureDefinitions with their
generated snapshots, CodeSystems, ValueSets, SearchParameters and examples.

Checks that every file is a valid resource, that canonical URLs follow the product's base and the
vocabulary in `contract/vocabulary.py`, that snapshots hold their differentials, that bindings and
profiles point at resources that exist, that every FHIRPath invariant compiles and holds on the
examples (and fails on examples broken on purpose), and that no real personnummer appears.
Snapshots are regenerated with `scripts/build-profile-snapshots` (see fhir_profiles/README.md).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy import compile as compile_fhirpath
from fhirpathpy import evaluate
from fhirpathpy.models import models

from patientkontrakt.contract import vocabulary
from patientkontrakt.search.expressions import compile_expression
from patientkontrakt.search.parameters import registry
from patientkontrakt.validation.base import validate_resource

PROFILES = Path(__file__).resolve().parents[2] / "fhir_profiles"
BASE = vocabulary.DEFAULT_CANONICAL_BASE
CANONICALS = vocabulary.Canonicals()
CORE = "http://hl7.org/fhir/StructureDefinition/"
R4 = models["r4"]
TEST_PERSONNUMMER = "191212121212"
FOLDERS = ("StructureDefinition", "CodeSystem", "ValueSet", "search-parameters", "examples")

Resource = dict[str, Any]


def _load(path: Path) -> Resource:
    data: Resource = json.loads(path.read_text(encoding="utf-8"))
    return data


def _files(folder: str) -> list[Path]:
    return sorted((PROFILES / folder).glob("*.json"))


def _all_files() -> list[Path]:
    return [path for folder in FOLDERS for path in _files(folder)]


def _by_url(folder: str) -> dict[str, Resource]:
    return {r["url"]: r for r in map(_load, _files(folder))}


STRUCTURES = _by_url("StructureDefinition")
VALUE_SETS = _by_url("ValueSet")
CODE_SYSTEMS = _by_url("CodeSystem")
BUNDLE = _load(PROFILES / "examples" / "contract-bundle.json")
EXAMPLES = {
    f"{r['resourceType']}/{r['id']}": r
    for r in map(_load, _files("examples"))
    if r["resourceType"] != "Bundle"
}


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


def _profiles_of(resource: Resource) -> list[Resource]:
    return [STRUCTURES[url] for url in resource.get("meta", {}).get("profile", [])]


def _bundle_resources() -> list[Resource]:
    return [entry["resource"] for entry in BUNDLE["entry"]]


# --- every file is a valid resource with the product's canonical url ------------------------------


@pytest.mark.parametrize("path", _all_files(), ids=_ids(_all_files()))
def test_file_is_a_valid_resource(path: Path) -> None:
    resource = _load(path)
    if resource["resourceType"] == "Bundle":
        get_fhir_model_class("Bundle").model_validate(resource)
        for entry in resource["entry"]:
            validate_resource(entry["resource"]["resourceType"], entry["resource"])
    else:
        validate_resource(resource["resourceType"], resource)


@pytest.mark.parametrize(
    ("folder", "resource_type"),
    [
        ("StructureDefinition", "StructureDefinition"),
        ("CodeSystem", "CodeSystem"),
        ("ValueSet", "ValueSet"),
        ("search-parameters", "SearchParameter"),
    ],
)
def test_canonical_urls_use_the_base_and_the_file_name(folder: str, resource_type: str) -> None:
    paths = _files(folder)
    assert paths
    for path in paths:
        resource = _load(path)
        assert resource["resourceType"] == resource_type
        assert resource["id"] == path.stem
        assert resource["url"] == CANONICALS.url(resource_type, resource["id"])
        assert resource["status"] == "active"


def test_example_file_names_follow_type_and_id() -> None:
    for key in EXAMPLES:
        assert (PROFILES / "examples" / f"{key.replace('/', '-')}.json").is_file(), key


# --- the vocabulary of contract/vocabulary.py -----------------------------------------------------


def test_code_systems_hold_the_vocabulary_codes() -> None:
    def codes(url: str) -> set[str]:
        return {c["code"] for c in CODE_SYSTEMS[url]["concept"]}

    assert codes(CANONICALS.plan_type) == set(vocabulary.PLAN_TYPES)
    assert {vocabulary.ROLE_FAST_VARDKONTAKT, vocabulary.ROLE_FAST_LAKARKONTAKT} <= codes(
        CANONICALS.care_team_role
    )
    assert codes(CANONICALS.contract_category) == {
        vocabulary.CATEGORY_PATIENTKONTRAKT,
        vocabulary.CATEGORY_SPARR,
    }
    displays = {c["code"]: c["display"] for c in CODE_SYSTEMS[CANONICALS.plan_type]["concept"]}
    assert displays == vocabulary.PLAN_TYPES
    assert CANONICALS.approved_for_patient in STRUCTURES
    assert CANONICALS.information_holder in STRUCTURES


@pytest.mark.parametrize("url", sorted(CODE_SYSTEMS))
def test_code_system_is_complete_and_has_its_value_set(url: str) -> None:
    system = CODE_SYSTEMS[url]
    assert system["content"] == "complete"
    assert system["caseSensitive"] is True
    assert system["count"] == len(system["concept"])
    codes = [c["code"] for c in system["concept"]]
    assert len(codes) == len(set(codes))
    for concept in system["concept"]:
        assert concept["display"]
        assert "English:" in concept["definition"]
    value_set = VALUE_SETS[system["valueSet"]]
    assert value_set["compose"]["include"] == [{"system": url}]


# --- StructureDefinitions and their snapshots -----------------------------------------------------


def _path_of(element_id: str) -> str:
    return re.sub(r":[^.]+", "", element_id)


def _parent_id(element_id: str) -> str:
    dot, colon = element_id.rfind("."), element_id.rfind(":")
    return element_id[: max(dot, colon)]


@pytest.mark.parametrize("url", sorted(STRUCTURES))
def test_structure_definition_header(url: str) -> None:
    sd = STRUCTURES[url]
    assert sd["fhirVersion"] == "4.0.1"
    assert sd["derivation"] == "constraint"
    assert "*English:*" in sd["description"]
    if sd["type"] == "Extension":
        assert sd["kind"] == "complex-type"
        assert sd["baseDefinition"] == CORE + "Extension"
        assert sd["context"]
    else:
        assert sd["kind"] == "resource"
        assert sd["baseDefinition"] == CORE + sd["type"]
    assert sd["snapshot"]["element"][0]["id"] == sd["type"]


@pytest.mark.parametrize("url", sorted(STRUCTURES))
def test_snapshot_holds_the_differential(url: str) -> None:
    sd = STRUCTURES[url]
    snapshot = {e["id"]: e for e in sd["snapshot"]["element"]}
    assert len(snapshot) == len(sd["snapshot"]["element"]), "duplicate element ids"
    seen: set[str] = set()
    for element in sd["snapshot"]["element"]:
        assert element["path"] == _path_of(element["id"])
        if element["id"] != sd["type"]:
            assert _parent_id(element["id"]) in seen, f"{element['id']} before its parent"
        seen.add(element["id"])
        if "sliceName" in element:
            assert element["id"].endswith(":" + element["sliceName"])
            assert "slicing" in snapshot[_parent_id(element["id"])]
    for diff in sd["differential"]["element"]:
        assert diff["id"] in snapshot, diff["id"]
        element = snapshot[diff["id"]]
        for key, value in diff.items():
            if key == "constraint":
                keys = {c["key"]: c for c in element["constraint"]}
                for constraint in value:
                    assert keys[constraint["key"]]["expression"] == constraint["expression"]
                    assert keys[constraint["key"]]["source"] == url
            else:
                assert element[key] == value, f"{diff['id']}.{key}"


def _canonicals(sd: Resource, kind: str) -> set[str]:
    found: set[str] = set()
    for element in sd["snapshot"]["element"] + sd["differential"]["element"]:
        if kind == "valueSet" and "binding" in element and "valueSet" in element["binding"]:
            found.add(element["binding"]["valueSet"].split("|")[0])
        for type_ in element.get("type", []) if kind == "profile" else []:
            found.update(type_.get("profile", []) + type_.get("targetProfile", []))
    return found


@pytest.mark.parametrize("url", sorted(STRUCTURES))
def test_bindings_and_profiles_point_at_existing_resources(url: str) -> None:
    sd = STRUCTURES[url]
    for value_set in _canonicals(sd, "valueSet"):
        assert value_set in VALUE_SETS or value_set.startswith(
            ("http://hl7.org/fhir/ValueSet/", "http://terminology.hl7.org/ValueSet/")
        ), value_set
    for profile in _canonicals(sd, "profile"):
        assert profile in STRUCTURES or profile.startswith(CORE), profile
    ours = {vs for vs in _canonicals(sd, "valueSet") if vs.startswith(BASE)}
    assert all(vs in VALUE_SETS for vs in ours)


def _own_constraints(sd: Resource) -> list[tuple[Resource, Resource]]:
    return [
        (element, constraint)
        for element in sd["snapshot"]["element"]
        for constraint in element.get("constraint", [])
        if constraint.get("source") == sd["url"]
    ]


@pytest.mark.parametrize("url", sorted(STRUCTURES))
def test_own_invariants_compile(url: str) -> None:
    for _element, constraint in _own_constraints(STRUCTURES[url]):
        assert constraint["key"].startswith("pk-")
        assert constraint["severity"] in ("error", "warning")
        assert constraint["human"]
        compile_fhirpath(constraint["expression"], R4)


# --- examples against their profiles --------------------------------------------------------------


def _walk(nodes: list[Any], names: list[str]) -> list[Any]:
    for name in names:
        following: list[Any] = []
        for node in nodes:
            if isinstance(node, dict) and name in node:
                value = node[name]
                following.extend(value if isinstance(value, list) else [value])
        nodes = following
    return nodes


def _matches(value: Any, pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and _matches(value[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(
            any(_matches(item, p) for item in value) for p in pattern
        )
    return bool(value == pattern)


def _fixed_or_pattern(element: Resource) -> tuple[str, Any] | None:
    for key, value in element.items():
        if key.startswith(("fixed", "pattern")):
            return key, value
    return None


def _slice_members(sd: Resource, slice_id: str, candidates: list[Any]) -> list[Any]:
    """The instances of `candidates` that belong to the slice (value, pattern, url slicing)."""
    snapshot = {e["id"]: e for e in sd["snapshot"]["element"]}
    sliced = snapshot[_parent_id(slice_id)]
    (discriminator,) = sliced["slicing"]["discriminator"]
    if discriminator["path"] == "url":
        (url,) = snapshot[slice_id]["type"][0]["profile"]
        return [c for c in candidates if c.get("url") == url]
    if discriminator["path"] == "$this":
        _key, pattern = _fixed_or_pattern(snapshot[slice_id]) or ("", None)
        return [c for c in candidates if _matches(c, pattern)]
    child = snapshot[f"{slice_id}.{discriminator['path']}"]
    _key, value = _fixed_or_pattern(child) or ("", None)
    return [c for c in candidates if c.get(discriminator["path"]) == value]


def _structure_problems(resource: Resource, sd: Resource) -> list[str]:
    """What of the differential the resource breaks: cardinality, fixed/pattern values, slices."""
    problems: list[str] = []
    root = sd["type"]
    snapshot = {e["id"]: e for e in sd["snapshot"]["element"]}
    for diff in sd["differential"]["element"]:
        element_id = diff["id"]
        if element_id == root or "[x]" in element_id:
            continue
        element = snapshot[element_id]
        # The parents are the resource, a slice's members, or the instances of the parent path.
        parent_id = _parent_id(element_id)
        slice_part = element_id.split(":")
        if len(slice_part) > 1 and "." not in slice_part[-1]:  # the slice itself
            parents = _walk([resource], _path_of(parent_id).split(".")[1:-1])
            per_parent = [
                _slice_members(sd, element_id, _walk([p], [element["path"].split(".")[-1]]))
                for p in parents
            ]
        else:
            if ":" in parent_id:
                slice_id = parent_id
                owners = _walk([resource], _path_of(slice_id).split(".")[1:-1])
                name = _path_of(slice_id).split(".")[-1]
                parents = _slice_members(sd, slice_id, _walk(owners, [name]))
            else:
                parents = _walk([resource], parent_id.split(".")[1:])
            per_parent = [_walk([p], [element["path"].split(".")[-1]]) for p in parents]
        maximum = float("inf") if element["max"] == "*" else int(element["max"])
        # A slice's pattern says which instances belong to it, not what they must be.
        value = None if "sliceName" in element else _fixed_or_pattern(element)
        key, expected = value or ("", None)
        for items in per_parent:
            if not element["min"] <= len(items) <= maximum:
                problems.append(f"{element_id}: {len(items)} not in {element['min']}..{maximum}")
            for item in items if value else []:
                if key.startswith("fixed") and item != expected:
                    problems.append(f"{element_id}: {item!r} is not fixed {expected!r}")
                if key.startswith("pattern") and not _matches(item, expected):
                    problems.append(f"{element_id}: {item!r} does not match {expected!r}")
    return problems


def _constraint_problems(resource: Resource, sd: Resource) -> list[str]:
    """The keys of the snapshot's error/warning invariants that do not hold."""
    problems: list[str] = []
    for element in sd["snapshot"]["element"]:
        if ":" in element["id"] or "[x]" in element["path"]:
            continue
        for constraint in element.get("constraint", []):
            relative = element["path"][len(sd["type"]) + 1 :]
            expression = constraint["expression"]
            if relative:
                expression = f"{relative}.all({expression})"
            try:
                result = evaluate(resource, expression, {}, R4)
            except Exception as exc:  # functions fhirpathpy lacks: hasValue(), resolve()
                if constraint["key"].startswith("pk-") or "Not implemented" not in str(exc):
                    raise
                continue
            # Errors anywhere, warnings at the root; dom-6 (narrative) is only best practice.
            reported = constraint["severity"] == "error" or relative == ""
            if result != [True] and reported and constraint["key"] != "dom-6":
                problems.append(constraint["key"])
    return problems


def _problems(resource: Resource) -> list[str]:
    problems: list[str] = []
    for sd in _profiles_of(resource):
        problems += _structure_problems(resource, sd) + _constraint_problems(resource, sd)
    return problems


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_example_conforms_to_its_profile(key: str) -> None:
    assert _problems(EXAMPLES[key]) == []


@pytest.mark.parametrize("index", range(len(BUNDLE["entry"])))
def test_bundle_entry_conforms_to_its_profile(index: int) -> None:
    assert _problems(BUNDLE["entry"][index]["resource"]) == []


def test_every_profile_has_an_example_and_profiled_examples_say_so() -> None:
    profiled = {sd["type"]: url for url, sd in STRUCTURES.items() if sd["kind"] == "resource"}
    for resource in [*EXAMPLES.values(), *_bundle_resources()]:
        declared = resource.get("meta", {}).get("profile", [])
        assert all(url in STRUCTURES for url in declared), declared
        if resource["resourceType"] in profiled:
            assert declared == [profiled[resource["resourceType"]]]
    used = {url for r in EXAMPLES.values() for url in r.get("meta", {}).get("profile", [])}
    assert used == set(profiled.values())
    extensions = {ext["url"] for r in EXAMPLES.values() for ext in r.get("extension", [])}
    assert {CANONICALS.approved_for_patient, CANONICALS.information_holder} <= extensions


def test_examples_are_tagged_as_test_data() -> None:
    tag = {"system": vocabulary.TEST_DATA_TAG_SYSTEM, "code": vocabulary.TEST_DATA_TAG_CODE}
    for resource in [BUNDLE, *EXAMPLES.values(), *_bundle_resources()]:
        tags = [{"system": t["system"], "code": t["code"]} for t in resource["meta"]["tag"]]
        assert tag in tags, resource.get("id")


def _break(key: str, change: Any) -> Resource:
    resource = copy.deepcopy(EXAMPLES[key])
    change(resource)
    return resource


def _set_patient_participant(status: str) -> Any:
    def change(r: Resource) -> None:
        r["participant"][0]["status"] = status

    return change


BROKEN = [
    ("Patient/tolvan", lambda r: r["identifier"][0].update(value="19121212121"), "pk-pat-1"),
    (
        "Patient/tolvan",
        lambda r: r["identifier"].append(
            {"system": vocabulary.SAMORDNINGSNUMMER, "value": TEST_PERSONNUMMER}
        ),
        "pk-pat-2",
    ),
    ("Patient/tolvan", lambda r: r.pop("name"), "Patient.name: 0 not in 1..inf"),
    (
        "Patient/tolvan",
        lambda r: r["identifier"].append(dict(r["identifier"][0])),
        "Patient.identifier:personnummer: 2 not in 0..1",
    ),
    (
        "CareTeam/tolvan",
        lambda r: r["participant"][0].pop("period"),
        "pk-ct-1",
    ),
    (
        "CareTeam/tolvan",
        lambda r: r["participant"][1].update(member={"reference": "Organization/psykiatri-testby"}),
        "pk-ct-1",
    ),
    (
        "CareTeam/tolvan",
        lambda r: r["participant"][2].pop("member"),
        "CareTeam.participant.member: 0 not in 1..1",
    ),
    ("Appointment/tolvan-uppfoljning", _set_patient_participant("needs-action"), "pk-app-2"),
    ("Appointment/tolvan-uppfoljning", lambda r: r["participant"].pop(0), "pk-app-1"),
    (
        "CarePlan/tolvan",
        lambda r: r["activity"][1]["detail"].pop("performer"),
        "pk-cp-1",
    ),
    (
        "CarePlan/tolvan",
        lambda r: r["activity"][1]["detail"].pop("performer"),
        "CarePlan.activity.detail.performer: 0 not in 1..inf",
    ),
    ("CarePlan/tolvan", lambda r: r.update(intent="proposal"), "CarePlan.intent: 'proposal'"),
    (
        "CarePlan/tolvan",
        lambda r: r["category"].pop(0),
        "CarePlan.category:contract: 0 not in 1..1",
    ),
    (
        "CarePlan/tolvan",
        lambda r: r["extension"].append(dict(r["extension"][0])),
        "CarePlan.extension:approvedForPatient: 2 not in 0..1",
    ),
    ("Organization/kommun-testby", lambda r: r.pop("name"), "Organization.name: 0 not in 1..1"),
    (
        "PractitionerRole/lakare-vardcentral",
        lambda r: r["identifier"][0].update(system=vocabulary.HSA_ID_RIVTA),
        "PractitionerRole.identifier:hsaid: 0 not in 1..1",
    ),
    (
        "PractitionerRole/lakare-vardcentral",
        lambda r: r["identifier"][0].update(value="2321000016-PK11"),
        "pk-prr-1",
    ),
]


@pytest.mark.parametrize(("key", "change", "expected"), BROKEN, ids=[b[2] for b in BROKEN])
def test_broken_example_is_caught(key: str, change: Any, expected: str) -> None:
    problems = _problems(_break(key, change))
    assert any(p == expected or p.startswith(expected) for p in problems), problems


# --- the example contract as one transaction Bundle -----------------------------------------------


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def _replace_references(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: mapping.get(v, v) if isinstance(v, str) else _replace_references(v, mapping)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_replace_references(v, mapping) for v in value]
    return value


def _same_apart_from_references(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            (k == "reference" and isinstance(a[k], str)) or _same_apart_from_references(a[k], b[k])
            for k in a
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            _same_apart_from_references(x, y) for x, y in zip(a, b, strict=True)
        )
    return bool(a == b)


def test_bundle_is_the_examples_with_uuid_references() -> None:
    assert BUNDLE["type"] == "transaction"
    full_urls = [entry["fullUrl"] for entry in BUNDLE["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    assert all(url.startswith("urn:uuid:") for url in full_urls)
    assert set(_references(_bundle_resources())) <= set(full_urls)
    assert set(_references(list(EXAMPLES.values()))) <= set(EXAMPLES)
    # Pair entries with examples by content, then the references must map onto each other.
    key_of: dict[str, str] = {}
    for entry in BUNDLE["entry"]:
        resource = entry["resource"]
        assert "id" not in resource
        assert entry["request"] == {**entry["request"], "method": "POST"}
        assert entry["request"]["url"] == resource["resourceType"]
        (key,) = [
            key
            for key, example in EXAMPLES.items()
            if key.startswith(resource["resourceType"] + "/")
            and _same_apart_from_references(
                resource, {k: v for k, v in example.items() if k != "id"}
            )
        ]
        key_of[entry["fullUrl"]] = key
    assert sorted(key_of.values()) == sorted(EXAMPLES)
    for entry in BUNDLE["entry"]:
        example = EXAMPLES[key_of[entry["fullUrl"]]]
        mapped = _replace_references(entry["resource"], key_of)
        assert mapped == {k: v for k, v in example.items() if k != "id"}


def test_bundle_holds_the_whole_contract() -> None:
    types = [entry["resource"]["resourceType"] for entry in BUNDLE["entry"]]
    for resource_type in ("Patient", "CareTeam", "CarePlan", "Goal"):
        assert resource_type in types
    assert types.count("Organization") >= 3
    care_team = EXAMPLES["CareTeam/tolvan"]
    roles = {p["role"][0]["coding"][0]["code"] for p in care_team["participant"]}
    assert {vocabulary.ROLE_FAST_LAKARKONTAKT, vocabulary.ROLE_FAST_VARDKONTAKT} <= roles
    statuses = {r["status"] for r in EXAMPLES.values() if r["resourceType"] == "Appointment"}
    assert statuses == {"booked", "proposed"}
    performers = _references([a["detail"]["performer"] for a in _activities_with_detail()])
    assert "Patient/tolvan" in performers
    assert any(p.startswith("Organization/") for p in performers)
    for entry in BUNDLE["entry"]:
        if entry["resource"]["resourceType"] in ("Patient", "Organization", "PractitionerRole"):
            assert entry["request"]["ifNoneExist"].startswith("identifier=")


def _activities_with_detail() -> list[Resource]:
    return [a for a in EXAMPLES["CarePlan/tolvan"]["activity"] if "detail" in a]


# --- SearchParameters -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", _files("search-parameters"), ids=_ids(_files("search-parameters")))
def test_search_parameter_compiles_for_every_base(path: Path) -> None:
    definition = _load(path)
    for base in definition["base"]:
        compile_expression(definition["expression"], base)
        assert registry().get(base, definition["code"]) is not None


def test_own_search_parameters_extract_from_the_examples() -> None:
    holder = registry().get("CarePlan", "information-holder")
    approved = registry().get("CarePlan", "approved-for-patient")
    role = registry().get("CareTeam", "participant-role")
    assert holder is not None
    assert approved is not None
    assert role is not None
    plan = EXAMPLES["CarePlan/tolvan"]
    assert [v["reference"] for v in holder.extract(plan)] == ["Organization/vardcentral-testby"]
    assert approved.extract(plan) == [True]
    proposal = registry().get("Appointment", "information-holder")
    assert proposal is not None
    assert [
        v["reference"] for v in proposal.extract(EXAMPLES["Appointment/tolvan-bedomning-forslag"])
    ] == ["Organization/psykiatri-testby"]
    codes = [c["code"] for v in role.extract(EXAMPLES["CareTeam/tolvan"]) for c in v["coding"]]
    assert vocabulary.ROLE_FAST_LAKARKONTAKT in codes


# --- test data only -------------------------------------------------------------------------------

_PERSONNUMMER_LIKE = re.compile(
    r"(?<![0-9])(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]|6[1-9]|[78][0-9]|9[01])"
    r"[-+]?[0-9]{4}(?![0-9])"
)


def _luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number[-10:]]
    total = 0
    for i, digit in enumerate(digits):
        product = digit * (2 if i % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return total % 10 == 0


def test_luhn_check_of_the_test_number() -> None:
    assert _luhn_valid(TEST_PERSONNUMMER)
    assert not _luhn_valid("191212121213")


@pytest.mark.parametrize("path", _all_files(), ids=_ids(_all_files()))
def test_no_personnummer_but_test_numbers(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tagged = vocabulary.TEST_DATA_TAG_CODE in text
    for match in _PERSONNUMMER_LIKE.findall(text):
        number = match.replace("-", "").replace("+", "")
        assert number == TEST_PERSONNUMMER or (tagged and _luhn_valid(number)), match
