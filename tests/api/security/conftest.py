"""Fixtures of the access-control tests: the shared dataset and tokens for its callers."""

from __future__ import annotations

import httpx
import pytest

from tests.api.security.dataset import Dataset, build
from tests.conftest import Tokens

pytestmark = pytest.mark.anyio


@pytest.fixture
async def data(client: httpx.AsyncClient) -> Dataset:
    """The dataset (see `dataset.py`), written through the system client."""
    return await build(client)


class Callers:
    """Authorization headers for the dataset's people."""

    def __init__(self, tokens: Tokens, data: Dataset) -> None:
        self.tokens = tokens
        self.data = data

    def patient(self, key: str = "P1", scope: str = "patient/*.cruds") -> dict[str, str]:
        """A patient-context token for `key` (P1 or P2)."""
        return self.tokens.headers(scope, patient=self.data.ids[key])

    def clinician(self, key: str, scope: str = "user/*.cruds") -> dict[str, str]:
        """A clinician's token for the PractitionerRole `key` (R1, R2, R3)."""
        return self.tokens.headers(scope, fhir_user=f"PractitionerRole/{self.data.ids[key]}")

    def system(self, scope: str) -> dict[str, str]:
        """A system token with `scope`."""
        return self.tokens.headers(scope, client_id="integration")


@pytest.fixture
def callers(tokens: Tokens, data: Dataset) -> Callers:
    """Headers for P1, P2, R1-R3 and system tokens."""
    return Callers(tokens, data)
