"""Bearer token validation: what is accepted, and the 401 answer to everything else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from patientkontrakt.config import Settings
from patientkontrakt.outcomes import FhirError
from patientkontrakt.security import keys as keys_module
from patientkontrakt.security.keys import load_dev_key, public_jwk
from patientkontrakt.security.tokens import Authenticator, issue_dev_token

pytestmark = pytest.mark.anyio

ISSUER = "https://idp.region.test/realms/vard"
AUDIENCE = "https://fhir.region.test/fhir"
JWKS_URL = "https://idp.region.test/realms/vard/jwks"
CHALLENGE = 'Bearer realm="patientkontrakt"'

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwk_of(key: Any, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    assert isinstance(jwk, dict)
    return {**jwk, "kid": kid, "use": "sig"}


JWKS = {"keys": [jwk_of(RSA_KEY, "rsa-1"), jwk_of(EC_KEY, "ec-1")]}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-123",
        "scope": "user/*.rs openid fhirUser",
        "fhirUser": "PractitionerRole/pr-1",
        "client_id": "api-client",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = EC_KEY, alg: str = "ES256", kid: str = "ec-1") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def bearer(token: str) -> str:
    return f"Bearer {token}"


def b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    parts = [json.dumps(header).encode(), json.dumps(payload).encode(), signature]
    return ".".join(b64(p) for p in parts)


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(JWKS))
    return path


def jwt_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "sqlite://",
        "paging_secret": "unused",
        "data_dir": tmp_path,
        "auth_mode": "jwt",
        "auth_issuer": ISSUER,
        "auth_audience": AUDIENCE,
        "auth_leeway_seconds": 10,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def authenticator(tmp_path: Path, jwks_file: Path) -> Authenticator:
    return Authenticator.from_settings(jwt_settings(tmp_path, auth_jwks_file=jwks_file))


async def refused(authenticator: Authenticator, header: str | None) -> FhirError:
    with pytest.raises(FhirError) as caught:
        await authenticator.authenticate(header)
    return caught.value


def assert_invalid(exc: FhirError, description: str, code: str = "security") -> None:
    assert exc.status == 401
    challenge = exc.headers["WWW-Authenticate"]
    assert challenge.startswith(f'{CHALLENGE}, error="invalid_token", error_description="')
    assert description in challenge
    outcome = exc.outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code
    assert description in outcome["issue"][0]["diagnostics"]


# -- accepted ----------------------------------------------------------------------------------


async def test_a_good_es256_token_gives_its_principal(authenticator: Authenticator) -> None:
    principal = await authenticator.authenticate(bearer(sign(claims())))
    assert principal.subject == "user-123"
    assert principal.client_id == "api-client"
    assert principal.fhir_user == "PractitionerRole/pr-1"
    assert principal.patient is None
    assert principal.context == "user"
    assert principal.scopes.allows("user", "CarePlan", "r")
    assert not principal.scopes.allows("user", "CarePlan", "u")
    assert principal.purpose_of_use == "TREAT"


async def test_a_good_rs256_token_is_accepted(authenticator: Authenticator) -> None:
    token = sign(claims(), RSA_KEY, "RS256", "rsa-1")
    principal = await authenticator.authenticate(bearer(token))
    assert principal.subject == "user-123"


async def test_a_patient_token_has_patient_context(authenticator: Authenticator) -> None:
    token = sign(
        claims(scope="patient/*.rs launch/patient", patient="tolvan", fhirUser="Patient/tolvan")
    )
    principal = await authenticator.authenticate(bearer(token))
    assert principal.context == "patient"
    assert principal.patient == "tolvan"
    assert principal.fhir_user is None


async def test_a_system_token_has_system_context(authenticator: Authenticator) -> None:
    token = sign(claims(scope="system/*.cruds", fhirUser=None, client_id=None, azp="cosmic"))
    principal = await authenticator.authenticate(bearer(token))
    assert principal.context == "system"
    assert principal.client_id == "cosmic"


async def test_without_client_id_or_azp_the_subject_is_the_client(
    authenticator: Authenticator,
) -> None:
    token = sign(claims(fhirUser=None, client_id=None, sub="integration-7"))
    assert (await authenticator.authenticate(bearer(token))).client_id == "integration-7"


async def test_a_full_url_fhir_user_is_kept_as_a_reference(authenticator: Authenticator) -> None:
    token = sign(claims(fhirUser="https://fhir.region.test/fhir/PractitionerRole/pr-9"))
    assert (await authenticator.authenticate(bearer(token))).fhir_user == "PractitionerRole/pr-9"


async def test_the_scope_claim_may_be_a_list(authenticator: Authenticator) -> None:
    token = sign(claims(scope=["user/CarePlan.rs", "openid"]))
    principal = await authenticator.authenticate(bearer(token))
    assert principal.scopes.allows("user", "CarePlan", "s")


async def test_the_scheme_is_case_insensitive(authenticator: Authenticator) -> None:
    assert (await authenticator.authenticate("bearer " + sign(claims()))).subject == "user-123"


async def test_leeway_covers_a_little_clock_skew(authenticator: Authenticator) -> None:
    now = int(time.time())
    token = sign(claims(exp=now - 5, nbf=now + 5, iat=now + 5))
    assert (await authenticator.authenticate(bearer(token))).subject == "user-123"


async def test_a_token_without_kid_uses_the_only_key_of_its_algorithm(
    authenticator: Authenticator,
) -> None:
    token = jwt.encode(claims(), EC_KEY, algorithm="ES256")
    assert (await authenticator.authenticate(bearer(token))).subject == "user-123"


# -- refused -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   "])
async def test_no_token_answers_a_bare_challenge(
    authenticator: Authenticator, header: str | None
) -> None:
    exc = await refused(authenticator, header)
    assert exc.status == 401
    assert exc.headers["WWW-Authenticate"] == CHALLENGE
    assert exc.outcome()["issue"][0]["code"] == "login"


async def test_another_scheme_answers_a_bare_challenge(authenticator: Authenticator) -> None:
    exc = await refused(authenticator, "Basic dXNlcjpwYXNz")
    assert exc.headers["WWW-Authenticate"] == CHALLENGE


@pytest.mark.parametrize("header", ["Bearer", "Bearer   ", "Bearer a b", "Bearer not-a-jwt"])
async def test_a_malformed_token_is_invalid(authenticator: Authenticator, header: str) -> None:
    exc = await refused(authenticator, header)
    assert exc.headers["WWW-Authenticate"].startswith(f'{CHALLENGE}, error="invalid_token"')


async def test_an_expired_token_is_invalid(authenticator: Authenticator) -> None:
    now = int(time.time())
    exc = await refused(authenticator, bearer(sign(claims(exp=now - 60, iat=now - 600))))
    assert_invalid(exc, "the token has expired", code="expired")


async def test_a_token_not_valid_yet_is_invalid(authenticator: Authenticator) -> None:
    now = int(time.time())
    exc = await refused(authenticator, bearer(sign(claims(nbf=now + 120))))
    assert_invalid(exc, "not valid yet")


async def test_the_wrong_audience_is_invalid(authenticator: Authenticator) -> None:
    exc = await refused(authenticator, bearer(sign(claims(aud="https://other.test/fhir"))))
    assert_invalid(exc, "not issued for this server (aud)")


async def test_the_wrong_issuer_is_invalid(authenticator: Authenticator) -> None:
    exc = await refused(authenticator, bearer(sign(claims(iss="https://evil.test"))))
    assert_invalid(exc, "not from the trusted issuer (iss)")


async def test_alg_none_is_invalid(authenticator: Authenticator) -> None:
    token = unsigned({"alg": "none", "typ": "JWT"}, claims())
    exc = await refused(authenticator, bearer(token))
    assert_invalid(exc, "must be signed with RS256 or ES256")


async def test_hs256_is_invalid_even_keyed_with_a_public_key(
    authenticator: Authenticator,
) -> None:
    # The classic confusion: an HMAC keyed with the issuer's public key (PyJWT will not make
    # one, so it is made by hand).
    secret = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = b64(json.dumps(claims()).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    token = f"{head}.{body}.{b64(mac)}"
    exc = await refused(authenticator, bearer(token))
    assert_invalid(exc, "must be signed with RS256 or ES256")


async def test_an_rsa_key_cannot_verify_an_es256_header(authenticator: Authenticator) -> None:
    token = sign(claims(), EC_KEY, "ES256", kid="rsa-1")
    exc = await refused(authenticator, bearer(token))
    assert_invalid(exc, "a key this server does not know")


async def test_an_unknown_kid_is_invalid(authenticator: Authenticator) -> None:
    exc = await refused(authenticator, bearer(sign(claims(), OTHER_EC_KEY, kid="ec-2")))
    assert_invalid(exc, "a key this server does not know")


async def test_a_known_kid_with_another_key_does_not_verify(authenticator: Authenticator) -> None:
    exc = await refused(authenticator, bearer(sign(claims(), OTHER_EC_KEY, kid="ec-1")))
    assert_invalid(exc, "signature does not verify")


async def test_a_tampered_payload_does_not_verify(authenticator: Authenticator) -> None:
    header, _, signature = sign(claims()).split(".")
    forged = b64(json.dumps(claims(scope="system/*.cruds", fhirUser=None)).encode())
    exc = await refused(authenticator, bearer(f"{header}.{forged}.{signature}"))
    assert_invalid(exc, "signature does not verify")


async def test_a_tampered_signature_does_not_verify(authenticator: Authenticator) -> None:
    token = sign(claims(), RSA_KEY, "RS256", "rsa-1")
    head, body, signature = token.split(".")
    flipped = ("A" if signature[10] != "A" else "B").join([signature[:10], signature[11:]])
    exc = await refused(authenticator, bearer(f"{head}.{body}.{flipped}"))
    assert_invalid(exc, "signature does not verify")


@pytest.mark.parametrize("claim", ["sub", "exp", "iss", "aud", "scope"])
async def test_a_missing_required_claim_is_invalid(
    authenticator: Authenticator, claim: str
) -> None:
    exc = await refused(authenticator, bearer(sign(claims(**{claim: None}))))
    assert_invalid(exc, f"the token has no {claim} claim")


@pytest.mark.parametrize(
    "fhir_user",
    [
        "Practitioner/p-1",
        "Patient/someone-else",
        "PractitionerRole/",
        "PractitionerRole/a/_history/1",
        "foo/PractitionerRole/pr-1",
        "PractitionerRole/has space",
    ],
)
async def test_a_fhir_user_that_is_not_a_practitioner_role_is_invalid(
    authenticator: Authenticator, fhir_user: str
) -> None:
    exc = await refused(authenticator, bearer(sign(claims(fhirUser=fhir_user))))
    assert_invalid(exc, "fhirUser must be a PractitionerRole reference")


@pytest.mark.parametrize("patient", ["", "Patient/tolvan", "x" * 65, 42])
async def test_a_malformed_patient_claim_is_invalid(
    authenticator: Authenticator, patient: object
) -> None:
    token = sign(claims(scope="patient/*.rs", fhirUser=None, patient=patient))
    assert_invalid(await refused(authenticator, bearer(token)), "the patient claim")


async def test_the_description_never_carries_quotes_or_the_token(
    authenticator: Authenticator,
) -> None:
    token = sign(claims(iss='https://evil.test/"quoted"'))
    exc = await refused(authenticator, bearer(token))
    challenge = exc.headers["WWW-Authenticate"]
    assert token not in challenge
    assert token not in str(exc)
    assert challenge.count('"') == 6


# -- key sources -------------------------------------------------------------------------------


def rotate(jwks_file: Path) -> None:
    """Add the other key to the file, with a newer modification time."""
    jwks_file.write_text(json.dumps({"keys": [*JWKS["keys"], jwk_of(OTHER_EC_KEY, "ec-2")]}))
    stat_result = jwks_file.stat()
    os.utime(jwks_file, (stat_result.st_atime, stat_result.st_mtime + 5))


async def test_a_rotated_jwks_file_is_read_again_for_an_unknown_kid(
    authenticator: Authenticator, jwks_file: Path
) -> None:
    token = bearer(sign(claims(), OTHER_EC_KEY, kid="ec-2"))
    await refused(authenticator, token)
    rotate(jwks_file)
    assert (await authenticator.authenticate(token)).subject == "user-123"


def test_a_missing_jwks_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(keys_module.KeyUnavailableError, match="JWKS file"):
        Authenticator.from_settings(jwt_settings(tmp_path, auth_jwks_file=tmp_path / "nope"))


def test_symmetric_and_private_members_are_dropped_from_a_jwks() -> None:
    private = ECAlgorithm.to_jwk(EC_KEY, as_dict=True)
    assert isinstance(private, dict)
    assert "d" in private
    document = {"keys": [{**private, "kid": "p"}, {"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}
    key_set = keys_module.KeySet.from_jwks(document)
    assert [k for k, _ in key_set.keys] == ["p"]
    assert "d" not in key_set.jwks()["keys"][0]


class FakeIdp:
    """A JWKS endpoint for httpx.MockTransport, counting fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.fetches = 0
        self.down = False

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        if self.down:
            return httpx.Response(502)
        return httpx.Response(200, json=self.jwks)


def url_authenticator(tmp_path: Path, idp: FakeIdp) -> Authenticator:
    return Authenticator.from_settings(
        jwt_settings(tmp_path, auth_jwks_url=JWKS_URL),
        transport=httpx.MockTransport(idp.handle),
    )


async def test_a_jwks_url_is_fetched_once_and_cached(tmp_path: Path) -> None:
    idp = FakeIdp(JWKS)
    authenticator = url_authenticator(tmp_path, idp)
    for _ in range(3):
        await authenticator.authenticate(bearer(sign(claims())))
    assert idp.fetches == 1


async def test_an_unknown_kid_fetches_the_jwks_again_but_not_on_every_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp = FakeIdp(JWKS)
    authenticator = url_authenticator(tmp_path, idp)
    await authenticator.authenticate(bearer(sign(claims())))
    rotated = bearer(sign(claims(), OTHER_EC_KEY, kid="ec-2"))
    # Right after a fetch, a forged kid does not cause another one.
    assert_invalid(await refused(authenticator, rotated), "a key this server does not know")
    assert idp.fetches == 1
    # Later, the issuer has rotated: the unknown kid makes the server look again.
    idp.jwks = {"keys": [*JWKS["keys"], jwk_of(OTHER_EC_KEY, "ec-2")]}
    monkeypatch.setattr(keys_module, "JWKS_MIN_REFRESH_SECONDS", 0)
    assert (await authenticator.authenticate(rotated)).subject == "user-123"
    assert idp.fetches == 2


async def test_an_unreachable_jwks_answers_503_not_401(tmp_path: Path) -> None:
    idp = FakeIdp(JWKS)
    idp.down = True
    exc = await refused(url_authenticator(tmp_path, idp), bearer(sign(claims())))
    assert exc.status == 503
    assert exc.outcome()["issue"][0]["code"] == "transient"


async def test_keys_already_fetched_outlive_an_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idp = FakeIdp(JWKS)
    authenticator = url_authenticator(tmp_path, idp)
    await authenticator.authenticate(bearer(sign(claims())))
    idp.down = True
    monkeypatch.setattr(keys_module, "JWKS_CACHE_SECONDS", 0)
    assert (await authenticator.authenticate(bearer(sign(claims())))).subject == "user-123"
    assert idp.fetches == 2


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth_issuer": None, "auth_jwks_url": JWKS_URL}, "PK_AUTH_ISSUER"),
        ({"auth_audience": None, "auth_jwks_url": JWKS_URL}, "PK_AUTH_AUDIENCE"),
        ({}, "PK_AUTH_JWKS_URL or PK_AUTH_JWKS_FILE"),
        ({"auth_jwks_url": "http://idp.region.test/jwks"}, "must be an https URL"),
        ({"auth_jwks_url": JWKS_URL, "auth_jwks_file": "/x"}, "not both"),
    ],
)
def test_jwt_mode_refuses_to_start_without_its_settings(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        jwt_settings(tmp_path, **overrides)


def test_jwt_mode_audience_defaults_to_the_base_url(tmp_path: Path) -> None:
    settings = jwt_settings(
        tmp_path, auth_audience=None, base_url=AUDIENCE, auth_jwks_url="http://localhost:9/jwks"
    )
    assert settings.resolved_auth_audience() == AUDIENCE


def test_a_settings_error_does_not_echo_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PK_AUTH_ISSUER") as caught:
        jwt_settings(tmp_path, auth_issuer=None, paging_secret="s3cret-value")
    assert "s3cret" not in str(caught.value)


# -- dev mode ----------------------------------------------------------------------------------


def dev_settings(data_dir: Path) -> Settings:
    return Settings(database_url="sqlite://", paging_secret="unused", data_dir=data_dir)


async def test_dev_mode_accepts_its_own_tokens(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path)
    authenticator = Authenticator.from_settings(settings)
    token = issue_dev_token(settings, scope="patient/*.rs", patient="tolvan")
    principal = await authenticator.authenticate(bearer(token))
    assert principal.patient == "tolvan"
    assert principal.subject == "Patient/tolvan"
    assert principal.client_id == "patientkontrakt-cli"


async def test_dev_mode_refuses_another_data_dirs_tokens(tmp_path: Path) -> None:
    token = issue_dev_token(dev_settings(tmp_path / "a"), scope="user/*.rs")
    authenticator = Authenticator.from_settings(dev_settings(tmp_path / "b"))
    assert_invalid(await refused(authenticator, bearer(token)), "does not know")


async def test_dev_mode_refuses_a_jwt_mode_issuers_token(tmp_path: Path) -> None:
    authenticator = Authenticator.from_settings(dev_settings(tmp_path))
    dev_key = load_dev_key(tmp_path)
    kid = public_jwk(dev_key)["kid"]
    # Signed with the right key, but for another issuer and audience.
    exc = await refused(authenticator, bearer(sign(claims(), dev_key, kid=kid)))
    assert_invalid(exc, "(iss)")
    exc = await refused(
        authenticator, bearer(sign(claims(iss="patientkontrakt-dev"), dev_key, kid=kid))
    )
    assert_invalid(exc, "(aud)")


def test_building_an_authenticator_writes_no_key(tmp_path: Path) -> None:
    Authenticator.from_settings(dev_settings(tmp_path / "data"))
    assert not (tmp_path / "data").exists()


def test_the_dev_key_is_private_to_its_owner(tmp_path: Path) -> None:
    load_dev_key(tmp_path)
    path = tmp_path / "dev-signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert [p.name for p in tmp_path.iterdir()] == ["dev-signing-key.pem"]


def test_processes_creating_the_dev_key_at_once_share_one(tmp_path: Path) -> None:
    found: list[str] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        found.append(public_jwk(load_dev_key(tmp_path))["kid"])

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8
    assert len(set(found)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["dev-signing-key.pem"]


def test_dev_tokens_are_not_issued_in_jwt_mode(tmp_path: Path, jwks_file: Path) -> None:
    with pytest.raises(ValueError, match="only in dev mode"):
        issue_dev_token(jwt_settings(tmp_path, auth_jwks_file=jwks_file), scope="user/*.rs")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"patient": "Patient/x"}, "patient must be a Patient id"),
        ({"fhir_user": "Practitioner/x"}, "fhir_user must be PractitionerRole"),
        ({"minutes": 0}, "minutes"),
        ({"client_id": ""}, "client_id"),
    ],
)
def test_dev_tokens_refuse_claims_the_server_would_refuse(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        issue_dev_token(dev_settings(tmp_path), scope="user/*.rs", **overrides)


# -- the verified-token cache ------------------------------------------------------------------


async def test_a_repeated_token_is_not_verified_again_within_the_minute(
    authenticator: Authenticator, tmp_path: Path
) -> None:
    token = sign(claims())
    first = await authenticator.authenticate(bearer(token))
    # The issuer's keys change to one that did not sign it: the token verified a moment ago is
    # still taken from the cache,
    other = tmp_path / "other-jwks.json"
    other.write_text(json.dumps({"keys": [jwk_of(OTHER_EC_KEY, "ec-2")]}))
    authenticator.keys = keys_module.FileKeys(other)
    assert await authenticator.authenticate(bearer(token)) == first
    # while any other token signed with the old key is verified, and refused.
    exc = await refused(authenticator, bearer(sign(claims(sub="user-456"))))
    assert_invalid(exc, "signed with a key this server does not know")


async def test_a_tampered_token_is_never_a_cache_hit(authenticator: Authenticator) -> None:
    token = sign(claims())
    await authenticator.authenticate(bearer(token))
    header, payload, signature = token.split(".")
    tampered = (
        f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    )
    exc = await refused(authenticator, bearer(tampered))
    assert_invalid(exc, "signature does not verify")
