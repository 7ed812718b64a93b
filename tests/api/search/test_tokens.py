"""Token search (search.html#token): `system|code`, `|code`, `system|`, `code`, on every kind of
element a token indexes, with `:not`, `:text`, `:missing`, OR by comma, AND by repetition and
escaping.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.builders import PERSONNUMMER_SYSTEM, TOLVAN_PERSONNUMMER
from tests.api.search.helpers import assert_outcome, put, search

pytestmark = pytest.mark.anyio

SNOMED = "http://snomed.info/sct"
LOCAL_CATEGORY = "urn:test:category"
TEST_PATIENT = "urn:test:patient"
LOINC = "http://loinc.org"


def care_plan(plan_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": plan_id,
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/tolvan"},
        **fields,
    }


def patient(patient_id: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": patient_id, **fields}


# --- CodeableConcept: CarePlan.category -----------------------------------------------------


@pytest.fixture
async def categorised(client: httpx.AsyncClient) -> None:
    """CarePlans whose categories differ in system, code, display and text."""
    plans = [
        care_plan(
            "cp-snomed",
            category=[
                {"coding": [{"system": SNOMED, "code": "734163000", "display": "Care plan"}]}
            ],
        ),
        care_plan(
            "cp-local",
            category=[{"coding": [{"system": LOCAL_CATEGORY, "code": "734163000"}]}],
        ),
        care_plan("cp-nosystem", category=[{"coding": [{"code": "734163000"}]}]),
        care_plan("cp-text", category=[{"text": "Éducation thérapeutique"}]),
        care_plan(
            "cp-two",
            category=[
                {"coding": [{"system": LOCAL_CATEGORY, "code": "rehab"}]},
                {
                    "coding": [{"system": SNOMED, "code": "736353004"}],
                    "text": "Rehabiliteringsplan",
                },
            ],
        ),
        care_plan("cp-none"),
    ]
    for plan in plans:
        await put(client, plan)


@pytest.mark.usefixtures("categorised")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # system|code: that code in that system only
        (f"{SNOMED}|734163000", ["cp-snomed"]),
        (f"{LOCAL_CATEGORY}|734163000", ["cp-local"]),
        # code: that code in any system, or none
        ("734163000", ["cp-local", "cp-nosystem", "cp-snomed"]),
        # |code: that code with no system
        ("|734163000", ["cp-nosystem"]),
        # system|: any code in that system
        (f"{LOCAL_CATEGORY}|", ["cp-local", "cp-two"]),
        (f"{SNOMED}|", ["cp-snomed", "cp-two"]),
        # any of the concepts of a repeating element
        (f"{SNOMED}|736353004", ["cp-two"]),
        ("rehab", ["cp-two"]),
        # codes match exactly: no prefix, no case folding
        ("73416300", []),
        ("REHAB", []),
        (f"{SNOMED}|rehab", []),
        # a CodeableConcept's text is no code
        ("Rehabiliteringsplan", []),
        # OR by comma
        (f"{SNOMED}|734163000,rehab", ["cp-snomed", "cp-two"]),
        (f"|734163000,{LOCAL_CATEGORY}|734163000", ["cp-local", "cp-nosystem"]),
    ],
)
async def test_codeable_concept(client: httpx.AsyncClient, value: str, expected: list[str]) -> None:
    assert sorted(await search(client, "/CarePlan", {"category": value})) == expected


@pytest.mark.usefixtures("categorised")
async def test_not_returns_every_other_resource_including_those_without_a_value(
    client: httpx.AsyncClient,
) -> None:
    # search.html#modifiers: :not includes resources that have no value for the parameter.
    found = await search(client, "/CarePlan", {"category:not": f"{SNOMED}|734163000"})
    assert sorted(found) == ["cp-local", "cp-none", "cp-nosystem", "cp-text", "cp-two"]


@pytest.mark.usefixtures("categorised")
async def test_not_with_several_values_excludes_each(client: httpx.AsyncClient) -> None:
    found = await search(client, "/CarePlan", {"category:not": "734163000,rehab"})
    assert sorted(found) == ["cp-none", "cp-text"]


@pytest.mark.usefixtures("categorised")
async def test_not_excludes_a_resource_when_any_of_its_values_matches(
    client: httpx.AsyncClient,
) -> None:
    # cp-two also has a SNOMED concept, but it has the local one too.
    found = await search(client, "/CarePlan", {"category:not": f"{LOCAL_CATEGORY}|"})
    assert sorted(found) == ["cp-none", "cp-nosystem", "cp-snomed", "cp-text"]


@pytest.mark.usefixtures("categorised")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Coding.display
        ("care", ["cp-snomed"]),
        ("Care plan", ["cp-snomed"]),
        ("CARE PL", ["cp-snomed"]),
        # CodeableConcept.text, accents ignored either way
        ("educ", ["cp-text"]),
        ("ÉDUCATION", ["cp-text"]),
        ("education therapeutique", ["cp-text"]),
        # the text of the second concept of a repeating element
        ("rehabiliterings", ["cp-two"]),
        # text matches from its start, not anywhere
        ("plan", []),
        ("therapeutique", []),
        # a code is not text
        ("734163000", []),
        # OR
        ("care,rehab", ["cp-snomed", "cp-two"]),
    ],
)
async def test_text_modifier(client: httpx.AsyncClient, value: str, expected: list[str]) -> None:
    assert sorted(await search(client, "/CarePlan", {"category:text": value})) == expected


@pytest.mark.usefixtures("categorised")
async def test_missing(client: httpx.AsyncClient) -> None:
    assert await search(client, "/CarePlan", {"category:missing": "true"}) == ["cp-none"]
    present = await search(client, "/CarePlan", {"category:missing": "false"})
    # A concept with only text is a value too.
    assert sorted(present) == ["cp-local", "cp-nosystem", "cp-snomed", "cp-text", "cp-two"]


@pytest.mark.usefixtures("categorised")
@pytest.mark.parametrize("value", ["yes", "", "TRUE", "1"])
async def test_missing_takes_only_true_or_false(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get("/CarePlan", params={"category:missing": value})
    assert_outcome(response, 400)


@pytest.mark.usefixtures("categorised")
async def test_and_of_two_parameters_of_one_concept_list(client: httpx.AsyncClient) -> None:
    # Repetition is AND: a plan with both a local and a SNOMED category.
    params = [("category", f"{LOCAL_CATEGORY}|"), ("category", f"{SNOMED}|")]
    assert await search(client, "/CarePlan", params) == ["cp-two"]


# --- Coding: Questionnaire.item.code ----------------------------------------------------------


@pytest.fixture
async def questionnaires(client: httpx.AsyncClient) -> None:
    def questionnaire(qid: str, *codings: dict[str, str]) -> dict[str, Any]:
        item = {"linkId": "1", "text": "Röker du?", "type": "boolean"}
        if codings:
            item["code"] = list(codings)
        return {"resourceType": "Questionnaire", "id": qid, "status": "active", "item": [item]}

    await put(
        client,
        questionnaire(
            "q-loinc",
            {"system": LOINC, "code": "72166-2", "display": "Tobacco smoking status"},
        ),
    )
    await put(client, questionnaire("q-local", {"system": "urn:test:q", "code": "72166-2"}))
    await put(client, questionnaire("q-nosystem", {"code": "72166-2"}))
    await put(client, questionnaire("q-uncoded"))


@pytest.mark.usefixtures("questionnaires")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"code": f"{LOINC}|72166-2"}, ["q-loinc"]),
        ({"code": "72166-2"}, ["q-local", "q-loinc", "q-nosystem"]),
        ({"code": "|72166-2"}, ["q-nosystem"]),
        ({"code": f"{LOINC}|"}, ["q-loinc"]),
        ({"code": "urn:test:q|"}, ["q-local"]),
        ({"code": f"{LOINC}|72166"}, []),
        ({"code:text": "tobacco smok"}, ["q-loinc"]),
        ({"code:not": f"{LOINC}|72166-2"}, ["q-local", "q-nosystem", "q-uncoded"]),
        ({"code:missing": "true"}, ["q-uncoded"]),
    ],
)
async def test_coding(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(await search(client, "/Questionnaire", params)) == expected


# --- Identifier: Patient.identifier -----------------------------------------------------------


@pytest.fixture
async def identified(client: httpx.AsyncClient) -> None:
    await put(
        client,
        patient(
            "tolvan",
            identifier=[
                {
                    "type": {"text": "Personnummer"},
                    "system": PERSONNUMMER_SYSTEM,
                    "value": TOLVAN_PERSONNUMMER,
                }
            ],
            name=[{"family": "Tolvansson", "given": ["Tolvan"]}],
        ),
    )
    # The same value under a test system, and with no system at all.
    await put(
        client,
        patient("local", identifier=[{"system": TEST_PATIENT, "value": TOLVAN_PERSONNUMMER}]),
    )
    await put(client, patient("nosystem", identifier=[{"value": TOLVAN_PERSONNUMMER}]))
    await put(
        client,
        patient(
            "two",
            identifier=[
                {"system": TEST_PATIENT, "value": "p-0002"},
                {"system": "urn:test:other", "value": "X-7"},
            ],
        ),
    )
    await put(client, patient("anonymous"))


@pytest.mark.usefixtures("identified")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER}", ["tolvan"]),
        (TOLVAN_PERSONNUMMER, ["local", "nosystem", "tolvan"]),
        (f"|{TOLVAN_PERSONNUMMER}", ["nosystem"]),
        (f"{TEST_PATIENT}|", ["local", "two"]),
        (f"{PERSONNUMMER_SYSTEM}|", ["tolvan"]),
        ("urn:test:other|X-7", ["two"]),
        # Identifier values are exact: no prefix, no case folding, no punctuation removed.
        (f"{PERSONNUMMER_SYSTEM}|19121212", []),
        (f"{PERSONNUMMER_SYSTEM}|19121212-1212", []),
        ("urn:test:other|x-7", []),
        # A system must be the whole system.
        (f"urn:test|{TOLVAN_PERSONNUMMER}", []),
        # OR across systems
        (f"{PERSONNUMMER_SYSTEM}|{TOLVAN_PERSONNUMMER},{TEST_PATIENT}|p-0002", ["tolvan", "two"]),
    ],
)
async def test_identifier(client: httpx.AsyncClient, value: str, expected: list[str]) -> None:
    assert sorted(await search(client, "/Patient", {"identifier": value})) == expected


@pytest.mark.usefixtures("identified")
async def test_identifier_text_searches_the_identifier_type(client: httpx.AsyncClient) -> None:
    assert await search(client, "/Patient", {"identifier:text": "personnum"}) == ["tolvan"]


@pytest.mark.usefixtures("identified")
async def test_identifier_not_and_missing(client: httpx.AsyncClient) -> None:
    found = await search(client, "/Patient", {"identifier:not": TOLVAN_PERSONNUMMER})
    assert sorted(found) == ["anonymous", "two"]
    assert await search(client, "/Patient", {"identifier:missing": "true"}) == ["anonymous"]


# --- code: CarePlan.status --------------------------------------------------------------------


@pytest.fixture
async def statuses(client: httpx.AsyncClient) -> None:
    for plan_id, status in [
        ("a1", "active"),
        ("a2", "active"),
        ("d1", "draft"),
        ("c1", "completed"),
    ]:
        await put(client, care_plan(plan_id, status=status))


@pytest.mark.usefixtures("statuses")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("status", "active")], ["a1", "a2"]),
        ([("status", "draft")], ["d1"]),
        ([("status", "revoked")], []),
        # codes are case-sensitive
        ([("status", "Active")], []),
        # OR by comma
        ([("status", "active,draft")], ["a1", "a2", "d1"]),
        ([("status", "draft,completed,revoked")], ["c1", "d1"]),
        # AND by repetition: no plan is both active and draft
        ([("status", "active"), ("status", "draft")], []),
        ([("status", "active"), ("status", "active,draft")], ["a1", "a2"]),
        # :not
        ([("status:not", "active")], ["c1", "d1"]),
        ([("status:not", "active,draft")], ["c1"]),
        ([("status:not", "active"), ("status:not", "draft")], ["c1"]),
        # a code has no system: `|code` finds it, `system|` does not
        ([("status", "|active")], ["a1", "a2"]),
        ([("status", "urn:test:other|")], []),
    ],
)
async def test_code(
    client: httpx.AsyncClient, params: list[tuple[str, str]], expected: list[str]
) -> None:
    assert sorted(await search(client, "/CarePlan", params)) == expected


# --- boolean: Patient.active ------------------------------------------------------------------


@pytest.fixture
async def activity(client: httpx.AsyncClient) -> None:
    await put(client, patient("on", active=True))
    await put(client, patient("off", active=False))
    await put(client, patient("unknown"))


@pytest.mark.usefixtures("activity")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"active": "true"}, ["on"]),
        ({"active": "false"}, ["off"]),
        ({"active": "true,false"}, ["off", "on"]),
        # :not includes resources with no value (search.html#modifiers)
        ({"active:not": "true"}, ["off", "unknown"]),
        ({"active:not": "false"}, ["on", "unknown"]),
        ({"active:missing": "true"}, ["unknown"]),
        ({"active:missing": "false"}, ["off", "on"]),
    ],
)
async def test_boolean(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(await search(client, "/Patient", params)) == expected


# --- ContactPoint: Patient.telecom, phone, email ------------------------------------------------


@pytest.fixture
async def reachable(client: httpx.AsyncClient) -> None:
    await put(
        client,
        patient(
            "both",
            telecom=[
                {"system": "phone", "value": "+46701234567", "use": "mobile"},
                {"system": "email", "value": "tolvan@example.se"},
            ],
        ),
    )
    await put(client, patient("phone-only", telecom=[{"system": "phone", "value": "+46707654321"}]))
    # An email address written where a phone number would go is no phone.
    await put(client, patient("odd", telecom=[{"system": "email", "value": "+46701234567"}]))
    await put(client, patient("silent"))


@pytest.mark.usefixtures("reachable")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"phone": "+46701234567"}, ["both"]),
        ({"phone": "+46707654321"}, ["phone-only"]),
        ({"phone": "+46701234567,+46707654321"}, ["both", "phone-only"]),
        ({"phone": "tolvan@example.se"}, []),
        ({"phone": "+4670"}, []),
        ({"email": "tolvan@example.se"}, ["both"]),
        ({"email": "+46701234567"}, ["odd"]),
        ({"telecom": "+46701234567"}, ["both", "odd"]),
        ({"telecom": "tolvan@example.se"}, ["both"]),
        ({"phone:missing": "true"}, ["odd", "silent"]),
        ({"email:missing": "false"}, ["both", "odd"]),
        ({"phone:not": "+46701234567"}, ["odd", "phone-only", "silent"]),
    ],
)
async def test_contact_point(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(await search(client, "/Patient", params)) == expected


# --- unsupported modifiers and malformed values ------------------------------------------------


@pytest.mark.usefixtures("categorised")
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("category:in", "http://hl7.org/fhir/ValueSet/care-plan-category"),
        ("category:not-in", "http://hl7.org/fhir/ValueSet/care-plan-category"),
        ("category:below", f"{SNOMED}|734163000"),
        ("category:above", f"{SNOMED}|734163000"),
        ("status:below", "active"),
        ("status:exact", "active"),
        ("status:contains", "act"),
        ("status:nonsense", "active"),
    ],
)
async def test_unsupported_modifier_is_400(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    response = await client.get("/CarePlan", params={name: value})
    body = assert_outcome(response, 400)
    assert name.partition(":")[2] in body["issue"][0]["diagnostics"]


async def test_unsupported_modifier_is_400_even_with_no_data(client: httpx.AsyncClient) -> None:
    response = await client.get("/Patient", params={"identifier:of-type": "x|y|z"})
    assert_outcome(response, 400)


async def test_empty_value_is_400(client: httpx.AsyncClient) -> None:
    assert_outcome(await client.get("/CarePlan", params={"status": ""}), 400)


# --- escaping (search.html#escaping) ----------------------------------------------------------


@pytest.fixture
async def punctuated(client: httpx.AsyncClient) -> None:
    await put(client, patient("comma", identifier=[{"system": TEST_PATIENT, "value": "a,b"}]))
    await put(client, patient("a", identifier=[{"system": TEST_PATIENT, "value": "a"}]))
    await put(client, patient("b", identifier=[{"system": TEST_PATIENT, "value": "b"}]))
    await put(client, patient("pipe", identifier=[{"system": TEST_PATIENT, "value": "x|y"}]))
    await put(client, patient("slash", identifier=[{"system": TEST_PATIENT, "value": "c\\d"}]))


@pytest.mark.usefixtures("punctuated")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # `\,` is a comma in the value, not an OR
        (f"{TEST_PATIENT}|a\\,b", ["comma"]),
        ("a\\,b", ["comma"]),
        # an unescaped comma is an OR: system|a OR b (in any system)
        (f"{TEST_PATIENT}|a,b", ["a", "b"]),
        # `\|` is a pipe in the value, not the system separator
        (f"{TEST_PATIENT}|x\\|y", ["pipe"]),
        ("x\\|y", ["pipe"]),
        # `\\` is a backslash
        (f"{TEST_PATIENT}|c\\\\d", ["slash"]),
    ],
)
async def test_escaped_separators(
    client: httpx.AsyncClient, value: str, expected: list[str]
) -> None:
    assert sorted(await search(client, "/Patient", {"identifier": value})) == expected
