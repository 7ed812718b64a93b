"""Signed paging cursors: `_page` links a client cannot forge or reuse for another query.

A cursor holds the position after the last entry shown (a history sequence number or a
resource id), never an offset, so pages stay correct while data changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson

from patientkontrakt.outcomes import bad_request, error

PAGE_PARAM = "_page"
_NOT_OF_THE_QUERY = (PAGE_PARAM, "_format", "_pretty")


def query_key(path: str, pairs: list[tuple[str, str]]) -> str:
    """What a cursor is bound to: the path and parameters, without paging and format ones."""
    kept = sorted((k, v) for k, v in pairs if k not in _NOT_OF_THE_QUERY)
    return path + "?" + urlencode(kept)


def page_url(base: str, path: str, pairs: list[tuple[str, str]], token: str) -> str:
    """The URL of another page of the same query."""
    kept = [(k, v) for k, v in pairs if k != PAGE_PARAM]
    return f"{base}/{path}?" + urlencode([*kept, (PAGE_PARAM, token)])


def count_value(raw: str, max_count: int) -> int:
    """A `_count` value, capped at `max_count`; 400 unless a whole number (ASCII digits)."""
    if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is true, int() refuses it
        raise bad_request(f"_count must be a whole number, not {raw!r}", "_count")
    return min(int(raw), max_count)


def load_secret(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, or one kept in `data_dir/paging.key` (made on first use)."""
    if configured:
        return configured.encode()
    path = data_dir / "paging.key"
    if not path.exists():
        # Several workers may start at once: write a complete file aside, then link it into
        # place, which fails for all but the first, so every worker reads the same key.
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".paging.key.{secrets.token_hex(8)}"
        draft.touch(mode=0o600)
        draft.write_text(secrets.token_urlsafe(32))
        try:
            path.hardlink_to(draft)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip().encode()


class PageSigner:
    """Makes and checks `_page` cursors bound to one query and valid for `ttl` seconds."""

    def __init__(self, secret: bytes, ttl: int) -> None:
        self._secret = secret
        self._ttl = ttl

    def sign(self, query: str, position: dict[str, Any]) -> str:
        """A cursor for `position` within the results of `query`."""
        payload = orjson.dumps(
            {"q": _digest(query), "p": position, "e": int(time.time()) + self._ttl}
        )
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]
        return _b64(payload) + "." + _b64(mac)

    def verify(self, query: str, token: str) -> dict[str, Any]:
        """The position in a cursor; 400 when tampered or for another query, 410 when expired."""
        try:
            body, _, mac = token.partition(".")
            payload = _unb64(body)
            expected = hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]
            valid = hmac.compare_digest(expected, _unb64(mac))
            data = orjson.loads(payload) if valid else None
        except (ValueError, orjson.JSONDecodeError):
            data = None
        if not isinstance(data, dict) or data.get("q") != _digest(query):
            raise error(400, "invalid", "The _page link is not valid for this query")
        if int(data.get("e", 0)) < time.time():
            raise error(410, "expired", "The _page link has expired; repeat the search")
        position = data.get("p")
        if not isinstance(position, dict):
            raise error(400, "invalid", "The _page link is not valid for this query")
        return position


def _digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
