"""What the audit database tests share: a store, seeded resources, callers and search."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from patientkontrakt.config import Settings
from patientkontrakt.fhir.listing import Paging
from patientkontrakt.fhir.paging import PageSigner
from patientkontrakt.search.engine import search_bundle
from patientkontrakt.search.indexer import index_rows
from patientkontrakt.security.principal import Principal
from patientkontrakt.security.scopes import ScopeSet
from patientkontrakt.store.database import create_engine
from patientkontrakt.store.repository import NewResource
from patientkontrakt.store.transactions import Store

CLINICIAN = Principal(
    subject="sub-anna",
    client_id="cosmic",
    scopes=ScopeSet.parse("user/*.rs"),
    fhir_user="PractitionerRole/pr-anna",
)
NURSE = Principal(
    subject="sub-bertil",
    client_id="cosmic",
    scopes=ScopeSet.parse("user/*.rs"),
    fhir_user="PractitionerRole/pr-bertil",
    purpose_of_use="ETREAT",
    emergency_reason="Medvetslös på akuten",
)
PORTAL = Principal(
    subject="sub-tolvan",
    client_id="portal",
    scopes=ScopeSet.parse("patient/*.rs"),
    patient="tolvan",
)

RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "tolvan",
        "identifier": [
            {
                "system": "http://electronichealth.se/identifier/personnummer",
                "value": "191212121212",
            }
        ],
    },
    {"resourceType": "Patient", "id": "other"},
    {"resourceType": "Organization", "id": "vc", "name": "Vårdcentralen"},
    {
        "resourceType": "CarePlan",
        "id": "cp1",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/tolvan"},
    },
    {
        "resourceType": "CareTeam",
        "id": "team",
        "subject": {"reference": "Patient/tolvan"},
        "participant": [{"member": {"reference": "Patient/other"}}],
    },
    {
        "resourceType": "CarePlan",
        "id": "cp-other",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/other"},
    },
    {
        # Another server's Patient/tolvan is not ours.
        "resourceType": "CarePlan",
        "id": "cp-remote",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "https://elsewhere.example/fhir/Patient/tolvan"},
    },
]


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """A store on the backend's emptied database, seeded with RESOURCES."""
    engine = create_engine(settings.resolved_database_url())
    store = Store(engine)
    async with store.writing() as repo:
        await repo.create_many(
            [
                NewResource(
                    r["resourceType"],
                    r["id"],
                    dict(r),
                    index_rows(r["resourceType"], r["id"], r),
                    "PUT",
                )
                for r in RESOURCES
            ]
        )
    yield store
    await store.dispose()


def paging() -> Paging:
    return Paging(
        base="http://test/fhir",
        signer=PageSigner(secrets.token_bytes(16), 60),
        default_count=100,
        max_count=1000,
    )


async def search(store: Store, resource_type: str, pairs: list[tuple[str, str]]) -> list[Any]:
    """The matching resources, as JSON."""
    async with store.reading() as repo:
        found = await search_bundle(repo, (resource_type,), resource_type, pairs, paging())
    plain = orjson.loads(orjson.dumps(found))
    return [e["resource"] for e in plain.get("entry", []) if e["search"]["mode"] == "match"]


def at(text: str) -> dt.datetime:
    """An instant from ISO text."""
    return dt.datetime.fromisoformat(text)
