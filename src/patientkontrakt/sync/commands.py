"""`patientkontrakt sync push` and `sync pull`: the CLI of the sync client.

Progress goes to stderr, one line per step; the summary to stdout. Options shared by both
commands set up the client: timeouts, retries, and OAuth2 client credentials (the secret also
from `PK_SYNC_CLIENT_SECRET`, so that it stays out of the shell's history).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from patientkontrakt.config import get_settings
from patientkontrakt.outcomes import FhirError
from patientkontrakt.sync.client import FhirClient, RetryPolicy, SyncError
from patientkontrakt.sync.oauth import ClientCredentials
from patientkontrakt.sync.resources import patient_identifier

sync_app = typer.Typer(
    help="Push contracts to, or pull a patient's plans from, another FHIR server.",
    no_args_is_help=True,
)

TokenUrl = Annotated[str | None, typer.Option(help="OAuth2 token endpoint: use client credentials")]
ClientId = Annotated[str | None, typer.Option(help="OAuth2 client id")]
ClientSecret = Annotated[
    str | None,
    typer.Option(envvar="PK_SYNC_CLIENT_SECRET", help="OAuth2 client secret", show_default=False),
]
Scope = Annotated[str | None, typer.Option(help="OAuth2 scope to ask for")]
ClientAuth = Annotated[
    str, typer.Option(help="How the client authenticates at the token endpoint: basic or post")
]
Timeout = Annotated[float, typer.Option(min=0.1, help="Seconds per request")]
Retries = Annotated[int, typer.Option(min=0, max=20, help="Retries on 429/5xx and lost links")]


def _err(line: str) -> None:
    typer.echo(line, err=True)


def _client(
    base_url: str,
    *,
    token_url: str | None,
    client_id: str | None,
    client_secret: str | None,
    scope: str | None,
    client_auth: str,
    timeout: float,
    retries: int,
) -> FhirClient:
    """The FhirClient; typer.BadParameter for options that do not fit together."""
    auth = None
    if token_url is not None:
        if not client_id or not client_secret:
            raise typer.BadParameter(
                "--token-url needs --client-id and --client-secret (or PK_SYNC_CLIENT_SECRET)"
            )
        if client_auth not in ("basic", "post"):
            raise typer.BadParameter("--client-auth must be basic or post")
        try:
            auth = ClientCredentials(
                token_url,
                client_id,
                client_secret,
                scope=scope,
                authentication="basic" if client_auth == "basic" else "post",
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    elif client_id or scope:
        raise typer.BadParameter("--client-id and --scope need --token-url")
    try:
        return FhirClient(
            base_url,
            auth=auth,
            timeout=timeout,
            retry=RetryPolicy(retries=retries),
            on_retry=_err,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@sync_app.command("push")
def push(
    to: Annotated[str, typer.Option("--to", help="Base URL of the other FHIR server")],
    patient: Annotated[
        list[str] | None,
        typer.Option(help="system|value or a bare personnummer; repeat it; default all"),
    ] = None,
    token_url: TokenUrl = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    scope: Scope = None,
    client_auth: ClientAuth = "basic",
    timeout: Timeout = 30.0,
    retries: Retries = 4,
) -> None:
    """Send contracts as transaction Bundles; pushing again creates nothing new."""
    from patientkontrakt.sync.push import push as run_push

    try:
        identifiers = [patient_identifier(p) for p in patient] if patient else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--patient") from exc
    client = _client(
        to,
        token_url=token_url,
        client_id=client_id,
        client_secret=client_secret,
        scope=scope,
        client_auth=client_auth,
        timeout=timeout,
        retries=retries,
    )

    async def run() -> list[str]:
        async with client:
            totals = await run_push(get_settings(), client, identifiers=identifiers, progress=_err)
        return totals.lines(f"pushed to {client.base_url}")

    try:
        lines = asyncio.run(run())
    except (SyncError, ValueError, OSError, FhirError) as exc:
        _err(f"sync push failed: {exc}")
        raise typer.Exit(1) from exc
    for line in lines:
        typer.echo(line)


@sync_app.command("pull")
def pull(
    source: Annotated[str, typer.Option("--from", help="Base URL of the other FHIR server")],
    patient: Annotated[str, typer.Option(help="system|value or a bare personnummer")],
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="_count per page")] = 50,
    token_url: TokenUrl = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    scope: Scope = None,
    client_auth: ClientAuth = "basic",
    timeout: Timeout = 30.0,
    retries: Retries = 4,
) -> None:
    """Import a patient's CarePlans, CareTeams and Appointments; again updates, not copies."""
    from patientkontrakt.sync.pull import ImportRefusedError
    from patientkontrakt.sync.pull import pull as run_pull

    try:
        system, value = patient_identifier(patient)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--patient") from exc
    client = _client(
        source,
        token_url=token_url,
        client_id=client_id,
        client_secret=client_secret,
        scope=scope,
        client_auth=client_auth,
        timeout=timeout,
        retries=retries,
    )

    async def run() -> list[str]:
        async with client:
            totals = await run_pull(
                get_settings(),
                client,
                system=system,
                value=value,
                page_size=page_size,
                progress=_err,
            )
        return totals.lines(f"pulled from {client.base_url}")

    try:
        lines = asyncio.run(run())
    except ImportRefusedError as exc:
        _err(f"sync pull refused: {exc}")
        raise typer.Exit(1) from exc
    except (SyncError, ValueError, OSError, FhirError) as exc:
        _err(f"sync pull failed: {exc}")
        raise typer.Exit(1) from exc
    for line in lines:
        typer.echo(line)
