"""Tokens already verified, so that a client sending the same bearer token on every request
pays the signature check once a minute instead of on each request.

An entry holds the Principal and the token's validity window; it is used only within that window
and for at most `TTL_SECONDS`, after which the token is verified again in full, so a key removed
from the issuer's JWKS stops its tokens within a minute. Entries are keyed by a SHA-256 of the
token, so the cache holds no token that could be replayed from a memory dump.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass

from patientkontrakt.security.principal import Principal

TTL_SECONDS = 60.0
MAX_ENTRIES = 1024


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    not_before: float
    expires: float
    recheck_at: float


class VerifiedTokens:
    """A bounded LRU of verified tokens and the Principals they name."""

    def __init__(self, *, leeway_seconds: int, max_entries: int = MAX_ENTRIES) -> None:
        self._leeway = leeway_seconds
        self._max = max_entries
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def get(self, token: str, now: float | None = None) -> Principal | None:
        """The Principal of `token` if it was verified lately and is still within its window."""
        key = _key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        moment = time.time() if now is None else now
        fresh = moment < entry.recheck_at
        valid = entry.not_before - self._leeway <= moment < entry.expires + self._leeway
        if not (fresh and valid):
            del self._entries[key]  # verified again in full, which says why it fails if it does
            return None
        self._entries.move_to_end(key)
        return entry.principal

    def put(
        self,
        token: str,
        principal: Principal,
        *,
        expires: float,
        not_before: float | None,
        now: float | None = None,
    ) -> None:
        """Remember that `token` verified to `principal`, valid until `expires` (its `exp`)."""
        moment = time.time() if now is None else now
        self._entries[_key(token)] = _Entry(
            principal,
            not_before if not_before is not None else moment - self._leeway,
            expires,
            moment + TTL_SECONDS,
        )
        self._entries.move_to_end(_key(token))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
