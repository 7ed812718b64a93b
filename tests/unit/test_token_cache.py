"""Verified tokens are remembered for a minute at most, and never past their own validity."""

from __future__ import annotations

from patientkontrakt.security.principal import Principal
from patientkontrakt.security.scopes import ScopeSet
from patientkontrakt.security.token_cache import TTL_SECONDS, VerifiedTokens

ALICE = Principal(subject="alice", client_id="portal", scopes=ScopeSet.parse("patient/*.rs"))


def test_an_entry_is_used_within_the_tokens_window_and_leeway_only() -> None:
    cache = VerifiedTokens(leeway_seconds=10)
    cache.put("t", ALICE, expires=1000.0, not_before=990.0, now=980.0)
    assert cache.get("t", now=979.0) is None  # before nbf - leeway (and dropped)
    cache.put("t", ALICE, expires=1000.0, not_before=990.0, now=985.0)
    assert cache.get("t", now=985.0) is ALICE
    assert cache.get("t", now=1009.0) is ALICE  # exp + leeway not reached
    assert cache.get("t", now=1010.0) is None  # expired: verified again, which refuses it
    assert cache.get("t", now=1005.0) is None  # and it is gone


def test_an_entry_is_verified_again_after_the_ttl() -> None:
    cache = VerifiedTokens(leeway_seconds=0)
    cache.put("t", ALICE, expires=10_000.0, not_before=None, now=0.0)
    assert cache.get("t", now=TTL_SECONDS - 1) is ALICE
    assert cache.get("t", now=TTL_SECONDS) is None


def test_the_cache_keeps_the_most_recently_used_entries() -> None:
    cache = VerifiedTokens(leeway_seconds=0, max_entries=2)
    for token in ("a", "b"):
        cache.put(token, ALICE, expires=100.0, not_before=None, now=0.0)
    assert cache.get("a", now=1.0) is ALICE  # a is now the most recent
    cache.put("c", ALICE, expires=100.0, not_before=None, now=1.0)
    assert cache.get("b", now=2.0) is None
    assert cache.get("a", now=2.0) is ALICE
    assert cache.get("c", now=2.0) is ALICE
