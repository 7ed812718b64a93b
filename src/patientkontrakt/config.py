"""Settings, read once from the environment.

Every setting is documented where it is defined; `docs/configuration.md` lists them for operators.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The service's configuration. Environment variables use the `PK_` prefix."""

    model_config = SettingsConfigDict(env_prefix="PK_", extra="ignore")

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

    def resolved_database_url(self) -> str:
        """The configured database URL, or the default SQLite file under `data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'patientkontrakt.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
