"""openapi.yaml in the repository is the API the code describes."""

from __future__ import annotations

from pathlib import Path

import yaml

from patientkontrakt.cli import openapi_yaml

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi.yaml"


def test_openapi_yaml_is_up_to_date() -> None:
    current = openapi_yaml()
    assert OPENAPI_FILE.is_file(), "openapi.yaml is missing: run `make openapi`"
    assert OPENAPI_FILE.read_text(encoding="utf-8") == current, (
        "openapi.yaml differs from the API the code describes: run `make openapi` and commit it"
    )


def test_openapi_describes_the_fhir_endpoints() -> None:
    document = yaml.safe_load(openapi_yaml())
    assert document["info"]["title"] == "patientkontrakt"
    paths = document["paths"]
    for path in (
        "/fhir/metadata",
        "/fhir",
        "/fhir/{resource_type}",
        "/fhir/{resource_type}/{resource_id}",
        "/fhir/{resource_type}/{resource_id}/_history",
        "/fhir/{resource_type}/{resource_id}/_history/{version_id}",
    ):
        assert path in paths, path
    assert set(paths["/fhir/{resource_type}/{resource_id}"]) >= {"get", "put", "patch", "delete"}
