"""String search (search.html#string): case- and accent-insensitive prefix by default, `:exact`,
`:contains`, `:missing`, over HumanName and Address parts, and `_sort` in Swedish order.

The product's Swedish rule (search/strings.py): å, ä and ö are letters of their own (Åsa is not
Asa, Östlund is not Ostlund), every other diacritic is ignored (René = Rene), and they sort
after z.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import httpx
import pytest

from tests.api.search.helpers import put, search

pytestmark = pytest.mark.anyio


def patient(patient_id: str, *names: dict[str, Any], **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": patient_id, **fields}
    if names:
        resource["name"] = list(names)
    return resource


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.fixture
async def people(client: httpx.AsyncClient) -> None:
    await put(client, patient("tolvan", {"family": "Tolvansson", "given": ["Tolvan"]}))
    await put(client, patient("asa", {"family": "Lind", "given": ["Åsa"]}))
    await put(client, patient("asa-upper", {"family": "Berg", "given": ["ÅSA"]}))
    await put(client, patient("asa-plain", {"family": "Holm", "given": ["Asa"]}))
    # Written decomposed: A + combining ring above.
    await put(client, patient("asa-nfd", {"family": "Sjö", "given": [nfd("Åsa")]}))
    await put(client, patient("ostlund", {"family": "Östlund", "given": ["Karl"]}))
    await put(client, patient("ostberg", {"family": "Ostberg", "given": ["Per"]}))
    await put(client, patient("rene", {"family": "Dupré", "given": ["René"]}))
    await put(client, patient("ake", {"family": "Ek", "given": ["Åke"]}))
    await put(
        client,
        patient(
            "doctor",
            {"family": "Ehn", "given": ["Ebba", "Maria"], "prefix": ["Med. dr"], "suffix": ["MD"]},
        ),
    )
    await put(client, patient("nameless"))


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # prefix, case-insensitive
        ({"name": "tol"}, ["tolvan"]),
        ({"name": "TOLVANS"}, ["tolvan"]),
        ({"name": "Tolvansson"}, ["tolvan"]),
        ({"name": "olvan"}, []),
        ({"name": "tolvanssonx"}, []),
        # é folds to e, both ways
        ({"name": "rene"}, ["rene"]),
        ({"name": "RENÉ"}, ["rene"]),
        ({"name": "dupre"}, ["rene"]),
        ({"name": "rené"}, ["rene"]),
        # å is not a: Åsa in any case and any Unicode form, never Asa
        ({"name": "åsa"}, ["asa", "asa-nfd", "asa-upper"]),
        ({"name": "ÅSA"}, ["asa", "asa-nfd", "asa-upper"]),
        ({"name": "Å"}, ["ake", "asa", "asa-nfd", "asa-upper"]),
        ({"name": nfd("åsa")}, ["asa", "asa-nfd", "asa-upper"]),
        ({"name": "asa"}, ["asa-plain"]),
        ({"name": "ake"}, []),
        ({"name": "åke"}, ["ake"]),
        # ö is not o
        ({"name": "östlund"}, ["ostlund"]),
        ({"name": "ÖST"}, ["ostlund"]),
        ({"name": "ostlund"}, []),
        ({"name": "ost"}, ["ostberg"]),
        ({"name": "sjö"}, ["asa-nfd"]),
        ({"name": "sjo"}, []),
        # every part of a HumanName: family, given (any of them), prefix, suffix
        ({"name": "ehn"}, ["doctor"]),
        ({"name": "mar"}, ["doctor"]),
        ({"name": "med. d"}, ["doctor"]),
        ({"name": "md"}, ["doctor"]),
        # OR
        ({"name": "tol,åke"}, ["ake", "tolvan"]),
        # family and given look at their own part only
        ({"family": "tolvan"}, ["tolvan"]),
        ({"family": "karl"}, []),
        ({"given": "karl"}, ["ostlund"]),
        ({"given": "östlund"}, []),
        ({"given": "maria"}, ["doctor"]),
        ({"family": "öst"}, ["ostlund"]),
    ],
)
async def test_default_is_case_and_accent_insensitive_prefix(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(await search(client, "/Patient", params)) == expected


@pytest.mark.usefixtures("people")
async def test_and_by_repetition(client: httpx.AsyncClient) -> None:
    # Both parts of one name: Åsa Lind, not Åsa Berg.
    params = [("given", "åsa"), ("family", "lind")]
    assert await search(client, "/Patient", params) == ["asa"]
    assert await search(client, "/Patient", [("name", "åsa"), ("name", "berg")]) == ["asa-upper"]
    assert await search(client, "/Patient", [("name", "åsa"), ("name", "holm")]) == []


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"given:exact": "Åsa"}, ["asa"]),
        ({"given:exact": "ÅSA"}, ["asa-upper"]),
        ({"given:exact": "åsa"}, []),
        ({"given:exact": "Asa"}, ["asa-plain"]),
        ({"family:exact": "Tolvansson"}, ["tolvan"]),
        ({"family:exact": "tolvansson"}, []),
        ({"family:exact": "Tolvan"}, []),
        ({"family:exact": "Dupre"}, []),
        ({"name:exact": "René"}, ["rene"]),
        ({"name:exact": "Med. dr"}, ["doctor"]),
        ({"name:exact": "Tolvansson,Ek"}, ["ake", "tolvan"]),
    ],
)
async def test_exact_is_case_and_accent_sensitive_and_whole(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(await search(client, "/Patient", params)) == expected


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name:contains": "vans"}, ["tolvan"]),
        ({"family:contains": "LUND"}, ["ostlund"]),
        ({"family:contains": "tlu"}, ["ostlund"]),
        ({"family:contains": "stl"}, ["ostlund"]),
        ({"family:contains": "berg"}, ["asa-upper", "ostberg"]),
        ({"name:contains": "SA"}, ["asa", "asa-nfd", "asa-plain", "asa-upper"]),
        ({"name:contains": "ås"}, ["asa", "asa-nfd", "asa-upper"]),
        ({"name:contains": "pre"}, ["rene"]),
        ({"name:contains": "%"}, []),
        ({"name:contains": "_"}, []),
        ({"name:contains": "xyz"}, []),
    ],
)
async def test_contains_matches_anywhere(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(await search(client, "/Patient", params)) == expected


@pytest.mark.usefixtures("people")
async def test_missing(client: httpx.AsyncClient) -> None:
    assert await search(client, "/Patient", {"name:missing": "true"}) == ["nameless"]
    present = await search(client, "/Patient", {"name:missing": "false"})
    assert "nameless" not in present
    assert len(present) == 10
    assert await search(client, "/Patient", {"family:missing": "true"}) == ["nameless"]


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("name", ["name:below", "name:text", "name:not", "name:Patient"])
async def test_unsupported_modifier_is_400(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get("/Patient", params={name: "tol"})
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


# --- Address ----------------------------------------------------------------------------------


@pytest.fixture
async def addressed(client: httpx.AsyncClient) -> None:
    await put(
        client,
        patient(
            "gbg",
            address=[
                {
                    "line": ["Storgatan 1", "Lgh 1102"],
                    "city": "Göteborg",
                    "postalCode": "411 38",
                    "country": "SE",
                }
            ],
        ),
    )
    await put(
        client,
        patient("sthlm", address=[{"line": ["Drottninggatan 7"], "city": "Stockholm"}]),
    )
    await put(client, patient("vaxjo", address=[{"city": "Växjö", "postalCode": "352 30"}]))
    await put(client, patient("homeless"))


@pytest.mark.usefixtures("addressed")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"address-city": "göteborg"}, ["gbg"]),
        ({"address-city": "GÖTE"}, ["gbg"]),
        ({"address-city": "goteborg"}, []),
        ({"address-city": "växjö"}, ["vaxjo"]),
        ({"address-city": "vaxjo"}, []),
        ({"address-city": "storgatan"}, []),
        ({"address-postalcode": "411"}, ["gbg"]),
        ({"address-postalcode": "352 30"}, ["vaxjo"]),
        # `address` looks at every part
        ({"address": "storgatan"}, ["gbg"]),
        ({"address": "lgh 11"}, ["gbg"]),
        ({"address": "göteborg"}, ["gbg"]),
        ({"address": "drottning"}, ["sthlm"]),
        ({"address": "se"}, ["gbg"]),
        ({"address": "gatan"}, []),
        ({"address:contains": "gatan"}, ["gbg", "sthlm"]),
        ({"address-city:exact": "Stockholm"}, ["sthlm"]),
        ({"address-city:exact": "stockholm"}, []),
        ({"address:missing": "true"}, ["homeless"]),
    ],
)
async def test_address_parts(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[str]
) -> None:
    assert sorted(await search(client, "/Patient", params)) == expected


async def test_organization_name_and_alias(client: httpx.AsyncClient) -> None:
    await put(
        client,
        {
            "resourceType": "Organization",
            "id": "vc",
            "name": "Vårdcentralen Öster",
            "alias": ["VC Öster"],
        },
    )
    await put(client, {"resourceType": "Organization", "id": "other", "name": "Vardcentralen"})
    assert await search(client, "/Organization", {"name": "vårdc"}) == ["vc"]
    assert await search(client, "/Organization", {"name": "vc ö"}) == ["vc"]
    assert await search(client, "/Organization", {"name": "vard"}) == ["other"]


# --- _sort in Swedish order -------------------------------------------------------------------


@pytest.fixture
async def alphabet(client: httpx.AsyncClient) -> None:
    # Created out of order, with ids that sort differently from the names.
    for patient_id, given in [
        ("p1", "Östen"),
        ("p2", "Åke"),
        ("p3", "Zlatan"),
        ("p4", "Ärla"),
        ("p5", "Adam"),
        ("p6", "Émile"),
        ("p7", "oskar"),
    ]:
        await put(client, patient(patient_id, {"given": [given]}))


@pytest.mark.usefixtures("alphabet")
async def test_sort_by_name_in_swedish_order(client: httpx.AsyncClient) -> None:
    # a < É(=e) < o < z < å < ä < ö, case ignored
    found = await search(client, "/Patient", {"_sort": "name"})
    assert found == ["p5", "p6", "p7", "p3", "p2", "p4", "p1"]


@pytest.mark.usefixtures("alphabet")
async def test_sort_descending_reverses(client: httpx.AsyncClient) -> None:
    found = await search(client, "/Patient", {"_sort": "-name"})
    assert found == ["p1", "p4", "p2", "p3", "p7", "p6", "p5"]


@pytest.mark.usefixtures("alphabet")
async def test_sort_with_a_filter_and_missing_values_last(client: httpx.AsyncClient) -> None:
    await put(client, patient("p0"))
    found = await search(client, "/Patient", {"_sort": "given"})
    assert found == ["p5", "p6", "p7", "p3", "p2", "p4", "p1", "p0"]
    found = await search(client, "/Patient", {"_sort": "-given"})
    assert found == ["p1", "p4", "p2", "p3", "p7", "p6", "p5", "p0"]
    found = await search(client, "/Patient", {"_sort": "-name", "name:missing": "false"})
    assert found == ["p1", "p4", "p2", "p3", "p7", "p6", "p5"]
