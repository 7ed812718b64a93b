"""Bearer tokens: from an `Authorization` header to the Principal a request runs as.

Tokens are JWTs signed with RS256 or ES256 (never `none` or HMAC), issued by the configured
issuer for the configured audience, within their `exp`/`nbf` (with PK_AUTH_LEEWAY_SECONDS of
clock skew), carrying `sub` and `scope`; `patient`, `fhirUser` and `client_id` (or `azp`) are
optional. Anything else is refused with 401 and a `WWW-Authenticate` challenge (RFC 6750 §3).
The token itself is never logged nor echoed. A token that verified is remembered for up to a
minute (`token_cache`), within its own validity, so a client's repeated token costs one check.

In `dev` mode the issuer and audience are `patientkontrakt-dev` and the key is the local one
under PK_DATA_DIR; `issue_dev_token` (the `patientkontrakt token` command) signs with it.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import httpx
import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
)

from patientkontrakt.config import Settings
from patientkontrakt.outcomes import FhirError, error, unauthorized
from patientkontrakt.security.keys import (
    ALGORITHMS,
    DevKeys,
    FileKeys,
    KeySource,
    KeyUnavailableError,
    UrlKeys,
    load_dev_key,
    public_jwk,
)
from patientkontrakt.security.principal import Principal
from patientkontrakt.security.scopes import ScopeSet
from patientkontrakt.security.token_cache import VerifiedTokens

REALM = "patientkontrakt"
DEV_ISSUER = "patientkontrakt-dev"
DEV_AUDIENCE = "patientkontrakt-dev"

_FHIR_ID = r"[A-Za-z0-9\-.]{1,64}"
_ID = re.compile(_FHIR_ID)
_BASE = r"(?:https?://[^\s/]+(?:/[^\s]*)?/)?"  # an absolute reference's base, if any
_PRACTITIONER_ROLE = re.compile(rf"{_BASE}PractitionerRole/({_FHIR_ID})")
_PATIENT = re.compile(rf"{_BASE}Patient/({_FHIR_ID})")
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")  # RFC 6750 error_description chars


def bearer_challenge(error_code: str | None = None, description: str | None = None) -> str:
    """A `WWW-Authenticate` value: without `error_code` for a request with no token."""
    parts = [f'Bearer realm="{REALM}"']
    if error_code is not None:
        parts.append(f'error="{error_code}"')
    if description is not None:
        parts.append(f'error_description="{_UNSAFE.sub("?", description)}"')
    return ", ".join(parts)


def missing_token(description: str) -> FhirError:
    """401 for a request without a Bearer token (RFC 6750 §3.1: no error attribute)."""
    return unauthorized(
        "login", f"Autentisering krävs / authentication required: {description}", bearer_challenge()
    )


def invalid_token(description: str, code: str = "security") -> FhirError:
    """401 for a token that is malformed, expired, or not made for this server."""
    return unauthorized(
        code,
        f"Ogiltig token / invalid token: {description}",
        bearer_challenge("invalid_token", description),
    )


def _keys_unavailable() -> FhirError:
    exc = error(
        503, "transient", "The token issuer's keys cannot be fetched now; try again shortly"
    )
    exc.headers["Retry-After"] = "30"
    return exc


def _fhir_user(value: object, patient: str | None) -> str | None:
    """`PractitionerRole/{id}` from a `fhirUser` claim (a relative or absolute reference).

    A patient-context token may name its own patient (`Patient/{patient}`), as patient portals
    do; that adds nothing to the patient claim and is not kept. Anything else is refused.
    """
    if value is None:
        return None
    if isinstance(value, str):
        role = _PRACTITIONER_ROLE.fullmatch(value)
        if role:
            return f"PractitionerRole/{role.group(1)}"
        own = _PATIENT.fullmatch(value)
        if own and patient is not None and own.group(1) == patient:
            return None
    raise invalid_token("fhirUser must be a PractitionerRole reference")


def _scope_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)
    raise invalid_token("the scope claim must be a space-separated string")


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The Principal of a token whose signature and times were checked; 401 for bad claims."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise invalid_token("the token has no sub claim")
    if "scope" not in claims:
        raise invalid_token("the token has no scope claim")
    scopes = ScopeSet.parse(_scope_text(claims["scope"]))
    patient = claims.get("patient")
    if patient is not None and not (isinstance(patient, str) and _ID.fullmatch(patient)):
        raise invalid_token("the patient claim must be a Patient id")
    client_id = claims.get("client_id") or claims.get("azp") or subject
    if not isinstance(client_id, str):
        raise invalid_token("client_id must be a string")
    return Principal(
        subject=subject,
        client_id=client_id,
        scopes=scopes,
        patient=patient,
        fhir_user=_fhir_user(claims.get("fhirUser"), patient),
    )


class Authenticator:
    """Checks bearer tokens against one issuer, audience and key source.

    `authenticate` is async: in `jwt` mode with a JWKS URL it may fetch the keys.
    """

    def __init__(
        self, *, issuer: str, audience: str, keys: KeySource, leeway_seconds: int = 30
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.leeway_seconds = leeway_seconds
        self._verified = VerifiedTokens(leeway_seconds=leeway_seconds)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> Authenticator:
        """The authenticator the settings describe; `transport` is for tests of JWKS URLs.

        In `jwt` mode a JWKS file is read now, so a missing or broken file stops the start.
        """
        if settings.auth_mode == "dev":
            return cls(
                issuer=DEV_ISSUER,
                audience=DEV_AUDIENCE,
                keys=DevKeys(settings.data_dir),
                leeway_seconds=settings.auth_leeway_seconds,
            )
        assert settings.auth_issuer is not None  # Settings._check_auth
        keys: KeySource
        if settings.auth_jwks_file is not None:
            keys = FileKeys(settings.auth_jwks_file)
        else:
            assert settings.auth_jwks_url is not None
            keys = UrlKeys(settings.auth_jwks_url, transport)
        return cls(
            issuer=settings.auth_issuer,
            audience=settings.resolved_auth_audience(),
            keys=keys,
            leeway_seconds=settings.auth_leeway_seconds,
        )

    async def authenticate(self, authorization_header: str | None) -> Principal:
        """The caller named by an `Authorization: Bearer <jwt>` header; FhirError 401 if there
        is none or it is not acceptable, 503 if the issuer's keys cannot be fetched."""
        if not authorization_header or not authorization_header.strip():
            raise missing_token("send Authorization: Bearer <token>")
        scheme, _, token = authorization_header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise missing_token("the Authorization header must use the Bearer scheme")
        token = token.strip()
        if not token or " " in token:
            raise invalid_token("the Bearer token is empty or malformed")
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        claims = await self._verified_claims(token)
        principal = principal_from_claims(claims)
        nbf = claims.get("nbf")  # checked numeric by jwt.decode, like exp
        self._verified.put(
            token,
            principal,
            expires=float(claims["exp"]),
            not_before=float(nbf) if nbf is not None else None,
        )
        return principal

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError:
            raise invalid_token("the token is not a signed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise invalid_token("the token must be signed with RS256 or ES256")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise invalid_token("the token's kid must be a string")
        try:
            key = (await self.keys.current()).find(kid, algorithm)
            if key is None:
                key = (await self.keys.refresh()).find(kid, algorithm)
        except KeyUnavailableError:
            raise _keys_unavailable() from None
        if key is None:
            raise invalid_token("the token is signed with a key this server does not know")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except ExpiredSignatureError:
            raise invalid_token("the token has expired", code="expired") from None
        except (ImmatureSignatureError, InvalidIssuedAtError):
            raise invalid_token("the token is not valid yet (nbf or iat)") from None
        except InvalidAudienceError:
            raise invalid_token("the token is not issued for this server (aud)") from None
        except InvalidIssuerError:
            raise invalid_token("the token is not from the trusted issuer (iss)") from None
        except MissingRequiredClaimError as exc:
            raise invalid_token(f"the token has no {exc.claim} claim") from None
        except (InvalidSignatureError, InvalidAlgorithmError):
            raise invalid_token("the token's signature does not verify") from None
        except InvalidTokenError:
            raise invalid_token("the token is malformed") from None
        return claims

    async def jwks(self) -> dict[str, Any]:
        """The public keys tokens are checked against, as a JWKS document."""
        try:
            return (await self.keys.current()).jwks()
        except KeyUnavailableError:
            raise _keys_unavailable() from None


def issue_dev_token(
    settings: Settings,
    *,
    scope: str,
    subject: str | None = None,
    patient: str | None = None,
    fhir_user: str | None = None,
    client_id: str = "patientkontrakt-cli",
    minutes: int = 60,
    now: int | None = None,
) -> str:
    """A `dev`-mode token signed with the key under PK_DATA_DIR; ValueError in `jwt` mode or
    for claims the Authenticator would refuse.

    `subject` defaults to the fhirUser, else `Patient/{patient}`, else the client id.
    """
    if settings.auth_mode != "dev":
        raise ValueError("tokens are issued only in dev mode (PK_AUTH_MODE=dev)")
    if minutes < 1:
        raise ValueError("minutes must be at least 1")
    if patient is not None and not _ID.fullmatch(patient):
        raise ValueError(f"patient must be a Patient id, not {patient!r}")
    if fhir_user is not None and not _PRACTITIONER_ROLE.fullmatch(fhir_user):
        raise ValueError(f"fhir_user must be PractitionerRole/<id>, not {fhir_user!r}")
    if not client_id:
        raise ValueError("client_id must not be empty")
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": subject or fhir_user or (f"Patient/{patient}" if patient else client_id),
        "client_id": client_id,
        "scope": scope,
        "iat": issued,
        "nbf": issued,
        "exp": issued + minutes * 60,
        "jti": secrets.token_urlsafe(16),
    }
    if patient is not None:
        claims["patient"] = patient
    if fhir_user is not None:
        claims["fhirUser"] = fhir_user
    key = load_dev_key(settings.data_dir)
    headers = {"kid": public_jwk(key)["kid"], "typ": "at+jwt"}
    return jwt.encode(claims, key, algorithm="ES256", headers=headers)
