"""OAuth 2.0 client credentials (RFC 6749 section 4.4) for calling another server.

The flow system integrations use, Cambio's open services among them: the client posts
`grant_type=client_credentials` (and a `scope` when asked) to the token endpoint, authenticated
with its client id and secret, and gets a bearer access token. The token is kept and reused
until shortly before its `expires_in` runs out (a tenth of its lifetime before, at most 30
seconds); a request answered 401 gets a fresh token and is sent once more.

Client authentication is HTTP Basic by default (`client_secret_basic`, which every server must
support, with id and secret form-encoded first as section 2.3.1 says), or the id and secret as
form fields (`client_secret_post`). The secret is never put in an error message.
"""

from __future__ import annotations

import time
from base64 import b64encode
from collections.abc import Callable, Generator
from typing import Literal
from urllib.parse import quote_plus, urlsplit

import httpx

from patientkontrakt.sync.client import SyncError

ClientAuthentication = Literal["basic", "post"]
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class OAuthError(SyncError):
    """The token endpoint refused the client or answered something that is not a token."""


def check_token_url(url: str) -> str:
    """`url` if it is https, or http on this machine (a test server); the client secret must
    not travel in clear text."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.netloc:
        return url
    if parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS:
        return url
    raise ValueError(f"the token URL must be https (or http to localhost), not {url!r}")


class ClientCredentials(httpx.Auth):
    """An httpx authentication flow that gets, caches and renews client-credentials tokens."""

    requires_response_body = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        authentication: ClientAuthentication = "basic",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = check_token_url(token_url)
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self.authentication = authentication
        self._clock = clock
        self._token: str | None = None
        self._expires_at: float | None = None
        self.fetched = 0
        """How many tokens were fetched (for progress and tests)."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the bearer token; renew it and resend once when the answer is 401."""
        if not self._valid():
            self._keep((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            self._token = None
            self._keep((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _valid(self) -> bool:
        if self._token is None:
            return False
        return self._expires_at is None or self._clock() < self._expires_at

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        headers = {"Accept": "application/json"}
        if self.authentication == "basic":
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}"
            headers["Authorization"] = "Basic " + b64encode(pair.encode()).decode("ascii")
        else:
            form |= {"client_id": self.client_id, "client_secret": self._secret}
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _keep(self, response: httpx.Response) -> None:
        """Take the access token (and its lifetime) from the token endpoint's answer."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.is_success or not isinstance(body, dict):
            reason = ""
            if isinstance(body, dict) and body.get("error"):
                reason = f": {body.get('error')} {body.get('error_description') or ''}".rstrip()
            raise OAuthError(
                f"token endpoint {self.token_url} refused client {self.client_id!r}: "
                f"{response.status_code} {response.reason_phrase}{reason}"
            )
        token, kind = body.get("access_token"), body.get("token_type")
        if not isinstance(token, str) or not token:
            raise OAuthError(f"token endpoint {self.token_url} sent no access_token")
        if not isinstance(kind, str) or kind.lower() != "bearer":
            raise OAuthError(f"token endpoint {self.token_url} sent a {kind!r} token, not bearer")
        self._token = token
        self.fetched += 1
        lifetime = body.get("expires_in")
        if isinstance(lifetime, str) and lifetime.isdigit():
            lifetime = int(lifetime)  # some identity providers send it as a string
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
            self._expires_at = self._clock() + lifetime - min(30.0, lifetime / 10)
        else:
            self._expires_at = None  # no lifetime given: kept until a 401
