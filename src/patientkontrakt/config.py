"""Settings, read once from the environment.

Every setting is documented where it is defined; `docs/configuration.md` lists them for operators.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from patientkontrakt.contract.vocabulary import DEFAULT_CANONICAL_BASE


class Settings(BaseSettings):
    """The service's configuration. Environment variables use the `PK_` prefix."""

    # Errors name the setting but never echo values: they may hold passwords and keys.
    model_config = SettingsConfigDict(env_prefix="PK_", extra="ignore", hide_input_in_errors=True)

    data_dir: Path = Field(
        default=Path("./data"),
        description="Folder for the embedded SQLite database and local keys.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "PK_DATABASE_URL"),
        description=(
            "SQLAlchemy URL of the store. Default: a SQLite file `patientkontrakt.db` under "
            "PK_DATA_DIR. `postgresql://user:pass@host/db` selects PostgreSQL (psycopg 3)."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Interface `serve` binds to.")
    port: int = Field(default=8000, description="Port `serve` listens on.")
    workers: int = Field(
        default=1,
        ge=1,
        description="uvicorn worker processes for `serve`; one per core in production.",
    )
    database_pool_size: int = Field(
        default=30,
        ge=1,
        le=1000,
        description=(
            "PostgreSQL connections each worker keeps open once it needed them. A request "
            "beyond them opens one of up to PK_DATABASE_MAX_OVERFLOW more, closed again after "
            "use: opening a connection forks a PostgreSQL backend, so the pool should cover "
            "the requests a worker has in flight."
        ),
    )
    database_max_overflow: int = Field(
        default=10,
        ge=0,
        le=1000,
        description=(
            "Further PostgreSQL connections a worker may open for a moment under load. "
            "workers x (pool size + overflow) must stay below the server's max_connections."
        ),
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="Largest request body accepted; larger ones get 413.",
    )
    base_url: str | None = Field(
        default=None,
        description=(
            "Public base of the FHIR API (e.g. https://fhir.example.se/fhir) used in fullUrl, "
            "Location and paging links. Default: taken from each request."
        ),
    )
    paging_secret: str | None = Field(
        default=None,
        description=(
            "Key that signs paging links. Default: a random key kept in PK_DATA_DIR/paging.key. "
            "Set it to the same value on every replica behind one load balancer."
        ),
    )
    page_link_ttl_seconds: int = Field(
        default=3600, ge=1, description="How long a paging (`_page`) link stays valid."
    )
    default_page_size: int = Field(default=20, ge=1, description="`_count` when none is given.")
    max_page_size: int = Field(default=1000, ge=1, description="Largest `_count` honoured.")
    max_bundle_entries: int = Field(
        default=10_000, ge=1, description="Most entries accepted in one batch or transaction."
    )
    max_url_bytes: int = Field(
        default=8192,
        ge=1,
        description=(
            "Longest request target (path and query string, as sent) accepted; longer ones get "
            "414. Long searches can be sent as POST [type]/_search with a form body instead."
        ),
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Comma-separated origins (https://portal.example.se) of browser portals allowed to "
            "call the API cross-origin (CORS). Default empty: no CORS headers at all. `*` and "
            "origins with a path are refused."
        ),
    )
    hsts: bool = Field(
        default=False,
        description=(
            "Send Strict-Transport-Security on every response. Default: only on requests that "
            "came over https, directly or as reported by a trusted proxy (X-Forwarded-Proto). "
            "Set it when TLS ends at a proxy that does not report the scheme."
        ),
    )
    audit_journal: bool = Field(
        default=True,
        description=(
            "Make each read's AuditEvents durable in an append-only journal under "
            "PK_DATA_DIR/audit-journal before answering (one flush to disk shared by concurrent "
            "reads) and move them into the store in batches in the background. "
            "`PK_AUDIT_JOURNAL=0`: commit them to the store before answering, a dozen "
            "statements per read."
        ),
    )
    demo_data: bool = Field(
        default=True,
        description=(
            "Whether `make serve` loads the demo county (20 synthetic patients with their "
            "contracts, tagged HTEST) into a database that holds no Patient yet. "
            "`PK_DEMO_DATA=0` turns it off; `patientkontrakt serve` itself never loads it."
        ),
    )

    canonical_base: str = Field(
        default=DEFAULT_CANONICAL_BASE,
        description=(
            "Canonical base of the product's profiles, extensions, CodeSystems, ValueSets and "
            "SearchParameters. Every URL under the default base in `fhir_profiles/` is rewritten "
            "to this one, both in the served conformance resources and in validation."
        ),
    )

    auth_mode: Literal["dev", "jwt"] = Field(
        default="dev",
        description=(
            "`dev`: tokens signed with a local key under PK_DATA_DIR (`patientkontrakt token` "
            "makes them); for development and demonstrations only. `jwt`: tokens from the "
            "identity provider named by PK_AUTH_ISSUER, checked against its JWKS."
        ),
    )
    auth_issuer: str | None = Field(
        default=None, description="`jwt` mode: the required `iss` of tokens. Required."
    )
    auth_audience: str | None = Field(
        default=None,
        description=(
            "`jwt` mode: the required `aud` of tokens. Default: PK_BASE_URL (SMART clients "
            "request tokens for the FHIR base URL); one of the two is required."
        ),
    )
    auth_jwks_url: str | None = Field(
        default=None,
        description=(
            "`jwt` mode: https URL of the issuer's JWKS, fetched on first use, kept an hour and "
            "fetched again when a token names an unknown key. This or PK_AUTH_JWKS_FILE."
        ),
    )
    auth_jwks_file: Path | None = Field(
        default=None,
        description="`jwt` mode: a JWKS file, read at start and again when it changes.",
    )
    auth_leeway_seconds: int = Field(
        default=30,
        ge=0,
        le=300,
        description="Clock skew allowed when checking a token's `exp`, `nbf` and `iat`.",
    )
    auth_authorization_endpoint: str | None = Field(
        default=None,
        description=(
            "`jwt` mode: the identity provider's authorization endpoint, advertised in "
            "/.well-known/smart-configuration (this service issues no tokens itself)."
        ),
    )
    auth_token_endpoint: str | None = Field(
        default=None,
        description="`jwt` mode: the identity provider's token endpoint, advertised likewise.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        """PK_CORS_ORIGINS as a comma-separated list; each an exact, lower-case origin."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return items
        return [_origin(str(item)) for item in items if str(item).strip()]

    @model_validator(mode="after")
    def _check_auth(self) -> Self:
        """`jwt` mode needs an issuer, an audience and keys; refuse to start without them."""
        if self.auth_mode != "jwt":
            return self
        missing = []
        if not self.auth_issuer:
            missing.append("PK_AUTH_ISSUER")
        if not (self.auth_audience or self.base_url):
            missing.append("PK_AUTH_AUDIENCE (or PK_BASE_URL)")
        if not (self.auth_jwks_url or self.auth_jwks_file):
            missing.append("PK_AUTH_JWKS_URL or PK_AUTH_JWKS_FILE")
        if missing:
            raise ValueError("PK_AUTH_MODE=jwt needs " + ", ".join(missing))
        if self.auth_jwks_url and self.auth_jwks_file:
            raise ValueError("set PK_AUTH_JWKS_URL or PK_AUTH_JWKS_FILE, not both")
        if self.auth_jwks_url:
            url = urlsplit(self.auth_jwks_url)
            local = url.hostname in ("localhost", "127.0.0.1", "::1")
            if url.scheme != "https" and not (url.scheme == "http" and local):
                raise ValueError("PK_AUTH_JWKS_URL must be an https URL")
        return self

    def resolved_auth_audience(self) -> str:
        """The `aud` tokens must carry in `jwt` mode: PK_AUTH_AUDIENCE, else PK_BASE_URL."""
        audience = self.auth_audience or self.base_url
        assert audience is not None  # _check_auth
        return audience

    def resolved_database_url(self) -> str:
        """The configured database URL, or the default SQLite file under `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'patientkontrakt.db').resolve()}"


def _origin(text: str) -> str:
    """`text` as a browser sends it in Origin (scheme://host[:port]); ValueError otherwise."""
    origin = text.strip().lower()
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "*" in origin
        or parts.username is not None
        or origin != f"{parts.scheme}://{parts.netloc}"
    ):
        raise ValueError(
            f"PK_CORS_ORIGINS: {text.strip()!r} is not an origin like https://portal.example.se "
            "(scheme and host, optional port, no path, no wildcard)"
        )
    return origin


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
