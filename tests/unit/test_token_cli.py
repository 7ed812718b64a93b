"""`patientkontrakt token`: development tokens an instance with the same PK_DATA_DIR accepts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner, Result

from patientkontrakt.cli import app
from patientkontrakt.config import Settings, get_settings
from patientkontrakt.outcomes import FhirError
from patientkontrakt.security import tokens
from patientkontrakt.security.tokens import Authenticator

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """The CLI reads settings through the cached get_settings(); clear it around each test."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_token(data_dir: Path, *args: str, **env: str) -> Result:
    environment = {"PK_DATA_DIR": str(data_dir), "PK_AUTH_MODE": "dev", **env}
    return CliRunner().invoke(app, ["token", *args], env=environment)


def printed_token(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def authenticator(data_dir: Path) -> Authenticator:
    return Authenticator.from_settings(
        Settings(database_url="sqlite://", paging_secret="unused", data_dir=data_dir)
    )


async def test_a_clinician_token_is_accepted(tmp_path: Path) -> None:
    result = run_token(
        tmp_path,
        "--scope",
        "user/*.cruds openid fhirUser",
        "--fhir-user",
        "PractitionerRole/ssk-anna",
        "--client-id",
        "journal-app",
    )
    principal = await authenticator(tmp_path).authenticate(f"Bearer {printed_token(result)}")
    assert principal.context == "user"
    assert principal.fhir_user == "PractitionerRole/ssk-anna"
    assert principal.subject == "PractitionerRole/ssk-anna"
    assert principal.client_id == "journal-app"
    assert principal.scopes.allows("user", "CarePlan", "u")
    assert result.stderr == ""


async def test_a_patient_token_is_accepted(tmp_path: Path) -> None:
    result = run_token(tmp_path, "--scope", "patient/*.rs", "--patient", "tolvan")
    principal = await authenticator(tmp_path).authenticate(f"Bearer {printed_token(result)}")
    assert principal.context == "patient"
    assert principal.patient == "tolvan"
    assert not principal.scopes.allows("patient", "CarePlan", "u")


async def test_a_system_token_with_a_subject(tmp_path: Path) -> None:
    result = run_token(tmp_path, "--scope", "system/*.rs", "--subject", "cosmic-integration")
    principal = await authenticator(tmp_path).authenticate(f"Bearer {printed_token(result)}")
    assert principal.context == "system"
    assert principal.subject == "cosmic-integration"


async def test_minutes_set_the_expiry(tmp_path: Path) -> None:
    before = int(time.time())
    token = printed_token(run_token(tmp_path, "--scope", "system/*.rs", "--minutes", "2"))
    claims = jwt.decode(token, options={"verify_signature": False})
    assert before + 120 <= claims["exp"] <= int(time.time()) + 120
    assert (await authenticator(tmp_path).authenticate(f"Bearer {token}")).subject


async def test_an_expired_cli_token_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issued 200 s ago for 2 minutes: expired 80 s ago, beyond the 30 s leeway.
    issued = time.time() - 200
    monkeypatch.setattr(tokens.time, "time", lambda: issued)
    token = printed_token(run_token(tmp_path, "--scope", "system/*.rs", "--minutes", "2"))
    monkeypatch.undo()
    with pytest.raises(FhirError) as caught:
        await authenticator(tmp_path).authenticate(f"Bearer {token}")
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"] == (
        'Bearer realm="patientkontrakt", error="invalid_token", '
        'error_description="the token has expired"'
    )


async def test_another_data_dir_refuses_the_token(tmp_path: Path) -> None:
    token = printed_token(run_token(tmp_path / "one", "--scope", "system/*.rs"))
    with pytest.raises(FhirError) as caught:
        await authenticator(tmp_path / "two").authenticate(f"Bearer {token}")
    assert caught.value.status == 401


def test_the_same_data_dir_keeps_one_key(tmp_path: Path) -> None:
    first = printed_token(run_token(tmp_path, "--scope", "system/*.rs"))
    second = printed_token(run_token(tmp_path, "--scope", "system/*.rs"))
    assert jwt.get_unverified_header(first)["kid"] == jwt.get_unverified_header(second)["kid"]
    assert jwt.get_unverified_header(first)["alg"] == "ES256"


def test_jwt_mode_refuses(tmp_path: Path) -> None:
    result = run_token(
        tmp_path,
        "--scope",
        "system/*.rs",
        PK_AUTH_MODE="jwt",
        PK_AUTH_ISSUER="https://idp.test",
        PK_AUTH_AUDIENCE="https://fhir.test/fhir",
        PK_AUTH_JWKS_URL="https://idp.test/jwks",
    )
    assert result.exit_code == 1
    assert "only in dev mode" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "dev-signing-key.pem").exists()


def test_jwt_mode_without_its_settings_names_them(tmp_path: Path) -> None:
    result = run_token(tmp_path, "--scope", "system/*.rs", PK_AUTH_MODE="jwt")
    assert result.exit_code == 1
    assert "PK_AUTH_ISSUER" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fhir-user", "Practitioner/x"], "fhir_user must be PractitionerRole"),
        (["--patient", "Patient/tolvan"], "patient must be a Patient id"),
    ],
)
def test_bad_claims_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_token(tmp_path, "--scope", "user/*.rs", *args)
    assert result.exit_code == 1
    assert message in result.stderr


def test_minutes_out_of_range_are_refused(tmp_path: Path) -> None:
    result = run_token(tmp_path, "--scope", "user/*.rs", "--minutes", "0")
    assert result.exit_code == 2


def test_scopes_that_grant_nothing_are_warned_about(tmp_path: Path) -> None:
    result = run_token(tmp_path, "--scope", "openid user/CarePlan.sr")
    assert result.exit_code == 0
    assert "malformed scopes grant nothing: user/CarePlan.sr" in result.stderr
    assert "no resource scope" in result.stderr
