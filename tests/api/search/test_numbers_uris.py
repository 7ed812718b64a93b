"""Quantity search (search.html#quantity, #number), uri search (search.html#uri) and the
parameters on `meta` every resource has: `_profile`, `_tag`, `_security`, `_source`.

None of this server's resource types has a search parameter of type number; quantities share
its rules: without a prefix `5.4` is the interval its precision implies, [5.35, 5.45); with one,
the value is exact.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.search.helpers import assert_outcome, put
from tests.api.search.helpers import search_sorted as search

pytestmark = pytest.mark.anyio

UCUM = "http://unitsofmeasure.org"
EXAMPLE = "http://example.org/fhir"


# --- quantity: Observation.value-quantity --------------------------------------------------------


def observation(observation_id: str, quantity: dict[str, Any] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": observation_id,
        "status": "final",
        "code": {"text": "P-Kreatinin"},
    }
    if quantity is not None:
        resource["valueQuantity"] = quantity
    return resource


def mg(value: float, **fields: Any) -> dict[str, Any]:
    return {"value": value, "unit": "mg", "system": UCUM, "code": "mg", **fields}


@pytest.fixture
async def measured(client: httpx.AsyncClient) -> None:
    for observation_id, quantity in [
        ("a-5.4", mg(5.4)),
        ("b-5.40", mg(5.40)),
        ("c-5.44", mg(5.44)),
        ("d-5.46", mg(5.46)),
        ("e-5.35", mg(5.35)),
        ("f-5.34", mg(5.34)),
        # a unit written only as text
        ("g-unit-only", {"value": 5.4, "unit": "mg"}),
        # same number, other unit
        ("h-grams", {"value": 5.4, "unit": "g", "system": UCUM, "code": "g"}),
        # same code, another system
        ("i-local", {"value": 5.4, "unit": "mg", "system": "urn:test:units", "code": "mg"}),
        ("j-large", mg(100)),
        ("k-negative", mg(-2)),
        ("l-none", None),
    ]:
        await put(client, observation(observation_id, quantity))
    # a value of another kind is no quantity
    await put(
        client,
        {
            "resourceType": "Observation",
            "id": "m-string",
            "status": "final",
            "code": {"text": "P-Kreatinin"},
            "valueString": "5.4 mg",
        },
    )


NEAR_5_4 = ["a-5.4", "b-5.40", "c-5.44", "e-5.35", "g-unit-only", "h-grams", "i-local"]


@pytest.mark.usefixtures("measured")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # precision: 5.4 is [5.35, 5.45)
        ("5.4", NEAR_5_4),
        ("eq5.4", NEAR_5_4),
        # 5.40 is [5.395, 5.405)
        ("5.40", ["a-5.4", "b-5.40", "g-unit-only", "h-grams", "i-local"]),
        ("5.44", ["c-5.44"]),
        ("5.5", ["d-5.46"]),
        ("5", [*NEAR_5_4, "d-5.46", "f-5.34"]),
        ("100", ["j-large"]),
        ("1e2", ["j-large"]),
        ("-2", ["k-negative"]),
        # system and code
        (f"5.4|{UCUM}|mg", ["a-5.4", "b-5.40", "c-5.44", "e-5.35"]),
        (f"5.4|{UCUM}|g", ["h-grams"]),
        ("5.4|urn:test:units|mg", ["i-local"]),
        # no system: the code, or the unit as written
        ("5.4||mg", ["a-5.4", "b-5.40", "c-5.44", "e-5.35", "g-unit-only", "i-local"]),
        (f"5.4|{UCUM}|", ["a-5.4", "b-5.40", "c-5.44", "e-5.35", "h-grams"]),
        (f"5.4|{UCUM}|kg", []),
        # prefixes make the value exact
        ("gt5.4", ["c-5.44", "d-5.46", "j-large"]),
        ("ge5.44", ["c-5.44", "d-5.46", "j-large"]),
        ("lt5.35", ["f-5.34", "k-negative"]),
        ("le5.35", ["e-5.35", "f-5.34", "k-negative"]),
        (f"gt5.4|{UCUM}|mg", ["c-5.44", "d-5.46", "j-large"]),
        (f"lt0|{UCUM}|mg", ["k-negative"]),
        ("ne5.4", ["d-5.46", "f-5.34", "j-large", "k-negative"]),
        ("sa5.44", ["d-5.46", "j-large"]),
        ("eb5.35", ["f-5.34", "k-negative"]),
        # ap: within 10%
        ("ap100", ["j-large"]),
        ("ap110", ["j-large"]),
        ("ap112", []),
        # OR
        ("5.46,100", ["d-5.46", "j-large"]),
    ],
)
async def test_value_quantity(client: httpx.AsyncClient, value: str, expected: list[str]) -> None:
    assert await search(client, "/Observation", {"value-quantity": value}) == sorted(expected)


@pytest.mark.usefixtures("measured")
async def test_value_quantity_range_by_and(client: httpx.AsyncClient) -> None:
    params = [("value-quantity", "ge5.35"), ("value-quantity", "lt5.44")]
    assert await search(client, "/Observation", params) == [
        "a-5.4",
        "b-5.40",
        "e-5.35",
        "g-unit-only",
        "h-grams",
        "i-local",
    ]


@pytest.mark.usefixtures("measured")
async def test_value_quantity_missing(client: httpx.AsyncClient) -> None:
    found = await search(client, "/Observation", {"value-quantity:missing": "true"})
    assert found == ["l-none", "m-string"]


@pytest.mark.parametrize(
    "value", ["abc", "5.4.4", "gt", "NaN", "Infinity", "xx5.4", "5.4 mg", "5.4,abc"]
)
async def test_malformed_quantity_is_400(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get("/Observation", params={"value-quantity": value})
    assert_outcome(response, 400)


async def test_quantity_modifier_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/Observation", params={"value-quantity:exact": "5.4"})
    assert_outcome(response, 400)


async def test_component_and_combo_quantities(client: httpx.AsyncClient) -> None:
    blood_pressure = {
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "code": {"text": "Blodtryck"},
        "component": [
            {"code": {"text": "Systoliskt"}, "valueQuantity": mg(120, unit="mm[Hg]")},
            {"code": {"text": "Diastoliskt"}, "valueQuantity": mg(80, unit="mm[Hg]")},
        ],
    }
    await put(client, blood_pressure)
    await put(client, observation("plain", mg(80)))
    assert await search(client, "/Observation", {"component-value-quantity": "80"}) == ["bp"]
    assert await search(client, "/Observation", {"value-quantity": "80"}) == ["plain"]
    assert await search(client, "/Observation", {"combo-value-quantity": "80"}) == ["bp", "plain"]
    assert await search(client, "/Observation", {"combo-value-quantity": "gt100"}) == ["bp"]


# --- uri: PlanDefinition.url --------------------------------------------------------------------


@pytest.fixture
async def definitions(client: httpx.AsyncClient) -> None:
    for definition_id, url in [
        ("kol", f"{EXAMPLE}/PlanDefinition/kol"),
        ("kol-v2", f"{EXAMPLE}/PlanDefinition/kol/v2"),
        ("diabetes", f"{EXAMPLE}/PlanDefinition/diabetes"),
        ("other", "http://example.org/other/PlanDefinition/kol"),
        ("urn", "urn:uuid:6f1b6b5e-1c1a-4c1e-9d0c-9f4f3d1c2b10"),
        ("none", None),
    ]:
        resource: dict[str, Any] = {
            "resourceType": "PlanDefinition",
            "id": definition_id,
            "status": "active",
        }
        if url is not None:
            resource["url"] = url
        await put(client, resource)


@pytest.mark.usefixtures("definitions")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # exact, case-sensitive, whole
        ({"url": f"{EXAMPLE}/PlanDefinition/kol"}, ["kol"]),
        ({"url": f"{EXAMPLE}/PlanDefinition/KOL"}, []),
        ({"url": f"{EXAMPLE}/PlanDefinition"}, []),
        ({"url": f"{EXAMPLE}/PlanDefinition/kol/"}, []),
        ({"url": "urn:uuid:6f1b6b5e-1c1a-4c1e-9d0c-9f4f3d1c2b10"}, ["urn"]),
        (
            {"url": f"{EXAMPLE}/PlanDefinition/kol,{EXAMPLE}/PlanDefinition/diabetes"},
            ["diabetes", "kol"],
        ),
        # :below: the url starts with the value
        ({"url:below": f"{EXAMPLE}/PlanDefinition/"}, ["diabetes", "kol", "kol-v2"]),
        ({"url:below": f"{EXAMPLE}/PlanDefinition/kol"}, ["kol", "kol-v2"]),
        ({"url:below": "http://example.org/"}, ["diabetes", "kol", "kol-v2", "other"]),
        ({"url:below": "http://example.net/"}, []),
        # :above: the url is the value or one of its ancestors
        ({"url:above": f"{EXAMPLE}/PlanDefinition/kol/v2/extra"}, ["kol", "kol-v2"]),
        ({"url:above": f"{EXAMPLE}/PlanDefinition/kol"}, ["kol"]),
        ({"url:above": f"{EXAMPLE}/PlanDefinition/diabetes/x"}, ["diabetes"]),
        ({"url:above": "http://example.org/other/x"}, []),
        ({"url:missing": "true"}, ["none"]),
        ({"url:missing": "false"}, ["diabetes", "kol", "kol-v2", "other", "urn"]),
    ],
)
async def test_uri(client: httpx.AsyncClient, params: dict[str, str], expected: list[str]) -> None:
    assert await search(client, "/PlanDefinition", params) == expected


@pytest.mark.usefixtures("definitions")
@pytest.mark.parametrize("name", ["url:contains", "url:exact", "url:text", "url:not"])
async def test_uri_unsupported_modifier_is_400(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get("/PlanDefinition", params={name: f"{EXAMPLE}/PlanDefinition/kol"})
    assert_outcome(response, 400)


async def test_uri_with_characters_like_would_treat_specially(client: httpx.AsyncClient) -> None:
    await put(
        client,
        {
            "resourceType": "PlanDefinition",
            "id": "percent",
            "status": "active",
            "url": "http://example.org/a%25b_c",
        },
    )
    await put(
        client,
        {
            "resourceType": "PlanDefinition",
            "id": "plain",
            "status": "active",
            "url": "http://example.org/aXXbYc",
        },
    )
    assert await search(client, "/PlanDefinition", {"url:below": "http://example.org/a%25b_"}) == [
        "percent"
    ]
    assert await search(client, "/PlanDefinition", {"url": "http://example.org/a%25b_c"}) == [
        "percent"
    ]


# --- meta: _profile, _tag, _security, _source ---------------------------------------------------

PROFILE = f"{EXAMPLE}/StructureDefinition/SwedishPatient"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
TAGS = "urn:test:tag"


@pytest.fixture
async def tagged(client: httpx.AsyncClient) -> None:
    await put(
        client,
        {
            "resourceType": "Patient",
            "id": "tolvan",
            "meta": {
                "profile": [PROFILE, f"{PROFILE}-v2|2.0"],
                "tag": [{"system": TAGS, "code": "pilot", "display": "Pilotprojekt"}],
                "security": [{"system": CONFIDENTIALITY, "code": "R"}],
                "source": "urn:test:source:cosmic#a1",
            },
        },
    )
    await put(
        client,
        {
            "resourceType": "Patient",
            "id": "other",
            "meta": {
                "tag": [{"system": "urn:test:other-tags", "code": "pilot"}],
                "security": [{"system": CONFIDENTIALITY, "code": "N"}],
                "source": "urn:test:source:portal",
            },
        },
    )
    await put(client, {"resourceType": "Patient", "id": "plain"})
    await put(
        client,
        {
            "resourceType": "CarePlan",
            "id": "plan",
            "meta": {"tag": [{"system": TAGS, "code": "pilot"}], "profile": [PROFILE]},
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/tolvan"},
        },
    )


@pytest.mark.usefixtures("tagged")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"_profile": PROFILE}, ["tolvan"]),
        ({"_profile": f"{PROFILE}-v2"}, ["tolvan"]),
        ({"_profile": f"{PROFILE}-v2|2.0"}, ["tolvan"]),
        ({"_profile": f"{EXAMPLE}/StructureDefinition/Other"}, []),
        ({"_profile:below": f"{EXAMPLE}/StructureDefinition/"}, ["tolvan"]),
        ({"_profile:missing": "true"}, ["other", "plain"]),
        ({"_tag": f"{TAGS}|pilot"}, ["tolvan"]),
        ({"_tag": "pilot"}, ["other", "tolvan"]),
        ({"_tag": f"{TAGS}|"}, ["tolvan"]),
        ({"_tag": f"{TAGS}|PILOT"}, []),
        ({"_tag:not": f"{TAGS}|pilot"}, ["other", "plain"]),
        ({"_tag:text": "pilotpro"}, ["tolvan"]),
        ({"_tag:missing": "true"}, ["plain"]),
        ({"_security": f"{CONFIDENTIALITY}|R"}, ["tolvan"]),
        ({"_security": f"{CONFIDENTIALITY}|R,{CONFIDENTIALITY}|N"}, ["other", "tolvan"]),
        ({"_security:not": f"{CONFIDENTIALITY}|R"}, ["other", "plain"]),
        ({"_source": "urn:test:source:portal"}, ["other"]),
        ({"_source": "urn:test:source:cosmic#a1"}, ["tolvan"]),
        ({"_source": "urn:test:source:cosmic"}, []),
        ({"_source:below": "urn:test:source:"}, ["other", "tolvan"]),
    ],
)
async def test_meta_parameters(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert await search(client, "/Patient", params) == expected


@pytest.mark.usefixtures("tagged")
async def test_meta_parameters_across_types(client: httpx.AsyncClient) -> None:
    response = await client.get("/", params={"_tag": f"{TAGS}|pilot"})
    assert response.status_code == 200, response.text
    entries = response.json().get("entry", [])
    found = sorted(
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in entries
        if e["search"]["mode"] == "match"
    )
    assert found == ["CarePlan/plan", "Patient/tolvan"]
    response = await client.get("/", params={"_profile": PROFILE, "_type": "CarePlan"})
    assert response.status_code == 200, response.text
    ids = [e["resource"]["id"] for e in response.json().get("entry", [])]
    assert ids == ["plan"]


async def test_escaped_comma_across_types(client: httpx.AsyncClient) -> None:
    await put(
        client,
        {
            "resourceType": "Patient",
            "id": "comma",
            "meta": {"tag": [{"system": TAGS, "code": "a,b"}]},
        },
    )
    await put(client, {"resourceType": "Patient", "id": "b", "meta": {"tag": [{"code": "b"}]}})
    response = await client.get("/", params={"_tag": f"{TAGS}|a\\,b"})
    assert response.status_code == 200, response.text
    ids = [e["resource"]["id"] for e in response.json().get("entry", [])]
    assert ids == ["comma"]
