"""The `patientkontrakt` command.

serve, migrate, load, demo-data, reindex, audit-report, token, openapi, sync (push, pull).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from patientkontrakt.config import get_settings
from patientkontrakt.sync.commands import sync_app

app = typer.Typer(help="patientkontrakt: FHIR R4 service for Swedish patient contracts.")
app.add_typer(sync_app, name="sync")


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
        "patientkontrakt.app:create_served_app",
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


@app.command("demo-data")
def demo_data(
    patients: Annotated[int, typer.Option(min=0, max=999_999, help="Patients to make")] = 50,
    seed: Annotated[int, typer.Option(help="Same seed, same county (and same ids)")] = 1,
    today: Annotated[
        str | None, typer.Option(help="Date (YYYY-MM-DD) times are relative to; default today")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Resources per transaction")] = 500,
    first_start: Annotated[
        bool,
        typer.Option(
            "--first-start",
            help="What `make serve` runs: load only if PK_DEMO_DATA is on and no Patient exists",
        ),
    ] = False,
) -> None:
    """Write the synthetic demo county (test data, tagged HTEST) through the validated store.

    Running it again with the same seed updates the same resources instead of duplicating them.
    """
    import datetime as dt

    from patientkontrakt.contract import demo
    from patientkontrakt.outcomes import FhirError

    settings = get_settings()
    try:
        reference = dt.date.fromisoformat(today) if today else None
        if first_start:
            message, summary = asyncio.run(demo.load_on_first_start(settings))
        else:
            message = None
            summary = asyncio.run(
                demo.load_demo_county(
                    settings, patients=patients, seed=seed, today=reference, batch_size=batch_size
                )
            )
    except (OSError, ValueError, FhirError) as exc:
        typer.echo(f"demo-data failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    if message:
        typer.echo(message)
    for line in summary.lines() if summary else []:
        typer.echo(line)


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


@app.command("audit-report")
def audit_report(
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD) or dateTime")],
    end: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD) or dateTime")],
    patient: Annotated[str | None, typer.Option(help="The Patient's id")] = None,
    identifier: Annotated[
        str | None, typer.Option(help="Or the Patient's identifier, system|value")
    ] = None,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Who accessed a patient's data and why (loggranskning), oldest first, Swedish time."""
    from patientkontrakt.outcomes import FhirError
    from patientkontrakt.security.audit_report import format_json, format_table, run_report

    if output not in ("table", "json"):
        typer.echo(f"audit-report failed: --format must be table or json, not {output}", err=True)
        raise typer.Exit(2)
    try:
        lines = asyncio.run(
            run_report(get_settings(), patient=patient, identifier=identifier, start=start, end=end)
        )
    except (ValueError, FhirError) as exc:
        typer.echo(f"audit-report failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    sys.stdout.write(format_json(lines) if output == "json" else format_table(lines))


@app.command()
def token(
    scope: Annotated[str, typer.Option(help='SMART scopes, e.g. "user/*.cruds"')],
    patient: Annotated[str | None, typer.Option(help="Patient id: a patient-context token")] = None,
    fhir_user: Annotated[
        str | None, typer.Option(help="PractitionerRole/ID: a clinician (user) token")
    ] = None,
    client_id: Annotated[str, typer.Option(help="The client the token is for")] = (
        "patientkontrakt-cli"
    ),
    minutes: Annotated[int, typer.Option(min=1, max=10080, help="Lifetime")] = 60,
    subject: Annotated[
        str | None, typer.Option(help="sub; default fhirUser, Patient/ID or client id")
    ] = None,
) -> None:
    """Print a development token (PK_AUTH_MODE=dev), signed with the key in PK_DATA_DIR."""
    from patientkontrakt.security.scopes import ScopeSet
    from patientkontrakt.security.tokens import issue_dev_token

    try:
        text = issue_dev_token(
            get_settings(),
            scope=scope,
            subject=subject,
            patient=patient,
            fhir_user=fhir_user,
            client_id=client_id,
            minutes=minutes,
        )
    except (OSError, ValueError) as exc:
        typer.echo(f"token failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    parsed = ScopeSet.parse(scope)
    if parsed.ignored:
        typer.echo(f"warning: malformed scopes grant nothing: {' '.join(parsed.ignored)}", err=True)
    if not parsed.scopes:
        typer.echo("warning: no resource scope; the token can read nothing", err=True)
    typer.echo(text)


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
