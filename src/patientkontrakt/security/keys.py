"""The public keys bearer tokens are checked against, and the development signing key.

Three sources: the development key kept under PK_DATA_DIR (`auth_mode=dev`), a JWKS file, or
a JWKS URL fetched with httpx (`auth_mode=jwt`). Only RSA keys (RS256) and P-256 EC keys (ES256)
are taken; symmetric and other keys in a JWKS are skipped, so an HS256 token can never verify.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt import PyJWK
from jwt.algorithms import ECAlgorithm
from jwt.exceptions import PyJWKError

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
"""The only signature algorithms accepted."""

DEV_KEY_FILE = "dev-signing-key.pem"
"""The development signing key's file name under PK_DATA_DIR."""

JWKS_CACHE_SECONDS = 3600
"""How long keys fetched from a JWKS URL are used before they are fetched again."""
JWKS_MIN_REFRESH_SECONDS = 30
"""Least time between two fetches caused by tokens with an unknown `kid`: a stream of forged
`kid`s must not turn into a stream of requests to the identity provider."""
JWKS_TIMEOUT_SECONDS = 5.0
"""Timeout of one JWKS fetch."""

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


class KeyUnavailableError(Exception):
    """The key source could not be read (network or file error); not the caller's fault."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256) of an RSA or EC public key."""
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = orjson.dumps({m: jwk[m] for m in members}, option=orjson.OPT_SORT_KEYS)
    return _b64(hashlib.sha256(canonical).digest())


def _algorithm_of(jwk: Mapping[str, Any]) -> str | None:
    """The accepted algorithm a JWK can verify, or None when it is not usable here."""
    if jwk.get("use", "sig") != "sig":
        return None
    kty, alg = jwk.get("kty"), jwk.get("alg")
    if kty == "RSA":
        algorithm = "RS256"
    elif kty == "EC" and jwk.get("crv") == "P-256":
        algorithm = "ES256"
    else:
        return None
    return algorithm if alg in (None, algorithm) else None


@dataclass(frozen=True)
class KeySet:
    """Verification keys by `kid`, and their public JWKs to publish."""

    keys: tuple[tuple[str | None, PyJWK], ...] = ()
    public: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_jwks(cls, document: object) -> KeySet:
        """The usable keys of a JWKS document; ValueError if it is not one."""
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWKS document (an object with a `keys` array)")
        keys: list[tuple[str | None, PyJWK]] = []
        public: list[dict[str, Any]] = []
        for raw in document["keys"]:
            if not isinstance(raw, dict):
                continue
            algorithm = _algorithm_of(raw)
            if algorithm is None:
                continue
            jwk = {k: v for k, v in raw.items() if k not in _PRIVATE_MEMBERS}
            kid = jwk.get("kid")
            try:
                keys.append((kid if isinstance(kid, str) else None, PyJWK(jwk, algorithm)))
            except (PyJWKError, ValueError, TypeError) as exc:
                log.warning("skipping a JWKS key that cannot be loaded: %s", type(exc).__name__)
                continue
            public.append(jwk)
        return cls(tuple(keys), tuple(public))

    def find(self, kid: str | None, algorithm: str) -> PyJWK | None:
        """The key named `kid` for `algorithm`; without `kid`, the only key for `algorithm`."""
        if kid is not None:
            for key_id, key in self.keys:
                if key_id == kid and key.algorithm_name == algorithm:
                    return key
            return None
        candidates = [key for _, key in self.keys if key.algorithm_name == algorithm]
        return candidates[0] if len(candidates) == 1 else None

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWKS document."""
        return {"keys": list(self.public)}


class KeySource(Protocol):
    """Where the verification keys come from."""

    async def current(self) -> KeySet:
        """The keys to use now."""

    async def refresh(self) -> KeySet:
        """The keys after looking again (a token named a `kid` not in `current`)."""


class StaticKeys:
    """Keys that never change (the development key)."""

    def __init__(self, keys: KeySet) -> None:
        self._keys = keys

    async def current(self) -> KeySet:
        """The keys."""
        return self._keys

    async def refresh(self) -> KeySet:
        """The same keys."""
        return self._keys


class DevKeys:
    """The development key under PK_DATA_DIR, read (or made) when first needed, so building the
    app alone never writes to the data folder."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._keys: KeySet | None = None

    async def current(self) -> KeySet:
        """The development key's public half."""
        if self._keys is None:
            self._keys = dev_keys(self._data_dir)
        return self._keys

    async def refresh(self) -> KeySet:
        """The same key: it changes only if the file is replaced and the service restarted."""
        return await self.current()


class FileKeys:
    """A JWKS file, read at start and read again when a token names an unknown `kid` and the
    file has changed since (so keys can be rotated without a restart)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime, self._keys = self._read()

    def _read(self) -> tuple[float, KeySet]:
        try:
            mtime = self._path.stat().st_mtime
            return mtime, KeySet.from_jwks(orjson.loads(self._path.read_bytes()))
        except (OSError, orjson.JSONDecodeError, ValueError) as exc:
            raise KeyUnavailableError(f"cannot read the JWKS file {self._path}: {exc}") from exc

    async def current(self) -> KeySet:
        """The keys last read."""
        return self._keys

    async def refresh(self) -> KeySet:
        """The keys, read again if the file changed; the old ones if it cannot be read now."""
        try:
            if self._path.stat().st_mtime != self._mtime:
                self._mtime, self._keys = self._read()
        except (OSError, KeyUnavailableError) as exc:
            log.warning("keeping the previous JWKS keys: %s", exc)
        return self._keys


class UrlKeys:
    """A JWKS URL: fetched on first use, kept for JWKS_CACHE_SECONDS, fetched again early (at
    most every JWKS_MIN_REFRESH_SECONDS) when a token names a `kid` not among the keys."""

    def __init__(self, url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = url
        self._transport = transport
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self) -> KeySet:
        try:
            async with httpx.AsyncClient(
                transport=self._transport, timeout=JWKS_TIMEOUT_SECONDS
            ) as client:
                response = await client.get(self._url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = KeySet.from_jwks(orjson.loads(response.content))
        except (httpx.HTTPError, orjson.JSONDecodeError, ValueError) as exc:
            raise KeyUnavailableError(f"cannot fetch the JWKS at {self._url}: {exc}") from exc
        self._keys, self._fetched_at = keys, time.monotonic()
        return keys

    async def _get(self, *, min_age: float) -> KeySet:
        async with self._lock:
            cached = self._keys
            if cached is not None and time.monotonic() - self._fetched_at < min_age:
                return cached
            try:
                return await self._fetch()
            except KeyUnavailableError as exc:
                if cached is None:
                    raise
                log.warning("keeping the previous JWKS keys: %s", exc)
                self._fetched_at = time.monotonic()  # do not retry on every request
                return cached

    async def current(self) -> KeySet:
        """The cached keys, fetched if none or older than JWKS_CACHE_SECONDS."""
        return await self._get(min_age=JWKS_CACHE_SECONDS)

    async def refresh(self) -> KeySet:
        """The keys fetched again, unless they were fetched moments ago."""
        return await self._get(min_age=JWKS_MIN_REFRESH_SECONDS)


# -- the development key ------------------------------------------------------------------------


def dev_key_path(data_dir: Path) -> Path:
    """Where the development signing key is kept."""
    return data_dir / DEV_KEY_FILE


def load_dev_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The development ES256 key under `data_dir`, made on first use (file mode 0600).

    Several processes may start at once: each writes a complete key aside and links it into
    place, which fails for all but the first, so every process reads the same key.
    """
    path = dev_key_path(data_dir)
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        draft = data_dir / f".{DEV_KEY_FILE}.{secrets.token_hex(8)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{path} is not a P-256 EC private key")
    return key


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The public JWK of an ES256 key, with its thumbprint as `kid`."""
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    assert isinstance(jwk, dict)
    return {**jwk, "kid": thumbprint(jwk), "use": "sig", "alg": "ES256"}


def dev_keys(data_dir: Path) -> KeySet:
    """The development key's public half, as the keys tokens are checked against."""
    return KeySet.from_jwks({"keys": [public_jwk(load_dev_key(data_dir))]})
