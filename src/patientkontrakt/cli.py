"""The `patientkontrakt` command: serve, migrate, load, reindex, openapi."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from patientkontrakt.config import get_settings

app = typer.Typer(help="patientkontrakt: FHIR R4 service for Swedish patient contracts.")


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic, to head)."""
    from patientkontrakt.store import migrate as migrations

    migrations.upgrade(get_settings().resolved_database_url())
    typer.echo("database is at the newest schema")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface; default PK_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Port; default PK_PORT")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes; PK_WORKERS")] = None,
) -> None:
    """Serve the FHIR API at http://HOST:PORT/fhir."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "patientkontrakt.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level="info",
        access_log=False,  # access lines carry query strings, which may hold personnummer
    )


@app.command()
def load(
    files: Annotated[list[Path], typer.Argument(help="Bundle (.json) or NDJSON (.ndjson) files")],
    batch_size: Annotated[int, typer.Option(help="Resources per transaction")] = 500,
) -> None:
    """Load Bundles and NDJSON files into the store, validated and indexed like any write."""
    from patientkontrakt.fhir.loading import load_files

    try:
        stored = asyncio.run(load_files(get_settings(), files, batch_size=batch_size))
    except (OSError, ValueError) as exc:
        typer.echo(f"load failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"loaded {stored} resources")


@app.command()
def reindex(
    resource_type: Annotated[
        str | None, typer.Option("--type", help="Only this resource type")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Resources per transaction")] = 500,
) -> None:
    """Rebuild the search index tables (after a SearchParameter was added or changed)."""
    from rich.progress import Progress

    from patientkontrakt.fhir.registry import require_type
    from patientkontrakt.outcomes import FhirError
    from patientkontrakt.search.reindex import reindex as run_reindex
    from patientkontrakt.store.database import create_engine
    from patientkontrakt.store.transactions import Store

    try:
        if resource_type is not None:
            require_type(resource_type)
    except FhirError as exc:
        typer.echo(f"reindex failed: {exc}", err=True)
        raise typer.Exit(1) from exc

    async def run() -> int:
        store = Store(create_engine(get_settings().resolved_database_url()))
        try:
            with Progress() as progress:
                task = progress.add_task("reindex", total=None)
                return await run_reindex(
                    store,
                    resource_type=resource_type,
                    batch_size=batch_size,
                    on_total=lambda n: progress.update(task, total=n),
                    on_batch=lambda n: progress.advance(task, n),
                )
        finally:
            await store.dispose()

    typer.echo(f"reindexed {asyncio.run(run())} resources")


@app.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="File to write; default stdout")] = None,
) -> None:
    """Print the OpenAPI description of the API (the source of openapi.yaml)."""
    text = openapi_yaml()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def openapi_yaml() -> str:
    """The app's OpenAPI document as YAML."""
    from patientkontrakt.app import create_app
    from patientkontrakt.config import Settings

    # A throwaway in-memory configuration: describing the API must not touch any data dir.
    settings = Settings(database_url="sqlite://", paging_secret="unused")  # noqa: S106
    document: dict[str, Any] = create_app(settings).openapi()
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
