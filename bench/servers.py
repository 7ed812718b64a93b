"""The servers under test, started as a user would run them, and the PostgreSQL they share.

- Ours: `patientkontrakt serve` (uvicorn with httptools and uvloop, one worker per core),
  PK_DEMO_DATA=0, the audit trail on (it is part of the product), with SQLite in a fresh data
  dir or PostgreSQL in a fresh database. Requests carry a system token made by the CLI.
- HAPI FHIR: the sandbox of `scripts/hapi-sandbox` (HAPI 8.8.0, Java 17) on a free port, with
  its own state folder (so the sandbox of the test suite on port 8090 is left alone) and its
  own fresh PostgreSQL database on the same server. It asks for no authentication.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "patientkontrakt"
SANDBOX = ROOT / "scripts" / "hapi-sandbox"
HAPI_JAVA_OPTS = "-Xmx1g"
"""The sandbox's default heap; HAPI settles at about 1.1 GB resident (docs/interop.md)."""
STOP_SECONDS = 5
"""How long a server may take to stop before it is killed."""
TOKEN_SCOPE = "system/*.cruds"  # noqa: S105 (a scope, not a secret)
"""The benchmark client is an EHR integration allowed everything."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, alive: Callable[[], bool], timeout: float) -> None:
    """Return when `url` answers 200; fail when the process dies or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server exited before {url} answered")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (uvicorn's workers), in MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The parent pid is the 4th field, after the command name in parentheses.
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total_kb = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        pending += children.get(current, [])
        try:
            status = (Path("/proc") / str(current) / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return round(total_kb / 1024, 1)


@dataclass
class Server:
    """A running server: what the scenarios need to address it."""

    key: str
    """`sqlite`, `postgresql` or `hapi`."""
    label: str
    origin: str
    """`http://127.0.0.1:PORT`; the FHIR base is `origin + /fhir` for every server."""
    pid: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.origin}/fhir"

    @property
    def ours(self) -> bool:
        return self.key != "hapi"


@dataclass(frozen=True)
class Postgres:
    """The PostgreSQL server of the run, through a role that may create databases."""

    url: str

    @classmethod
    def discover(cls) -> Postgres:
        """BENCH_POSTGRES_URL, else PK_TEST_POSTGRES_URL (CI sets it), else the local server
        `scripts/postgres-test-server` starts (installing it from Debian when missing)."""
        url = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("PK_TEST_POSTGRES_URL")
        if not url:
            started = subprocess.run(
                [str(ROOT / "scripts" / "postgres-test-server")],
                check=True,
                capture_output=True,
                text=True,
            )
            url = started.stdout.strip().splitlines()[-1]
        return cls(url)

    def _admin(self, database: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        parsed = make_url(self.url)
        return psycopg.connect(
            host=parsed.host,
            port=parsed.port,
            user=parsed.username,
            password=parsed.password,
            dbname=database or parsed.database,
            autocommit=True,
        )

    def analyze(self, name: str) -> None:
        """ANALYZE the database `name`, as `patientkontrakt load` does its own after a load."""
        with self._admin(name) as conn:
            conn.execute("ANALYZE")

    def fresh(self, name: str) -> str:
        """Drop and create the database `name`; its URL."""
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def version(self) -> str:
        with self._admin() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else "?"


class Ours:
    """Our server on one database: migrated, loadable through the CLI, then served."""

    def __init__(self, key: str, folder: Path, database_url: str | None, workers: int) -> None:
        self.key = key
        self.label = f"ours ({'PostgreSQL' if database_url else 'SQLite'})"
        self.folder = folder
        self.workers = workers
        # Our process's own PK_ settings must not leak into the server under test.
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("PK_") and k != "DATABASE_URL"
        }
        self.env.update(
            PK_DATA_DIR=str(folder / "data"),
            PK_HOST="127.0.0.1",
            PK_PORT=str(free_port()),
            PK_WORKERS=str(workers),
            PK_DEMO_DATA="0",
        )
        if database_url:
            self.env["DATABASE_URL"] = database_url

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `patientkontrakt ARGS` against this server's settings."""
        return subprocess.run(
            [str(CLI), *args], env=self.env, check=True, capture_output=True, text=True
        )

    def token_headers(self) -> dict[str, str]:
        """A system token signed with this instance's development key (PK_DATA_DIR)."""
        done = self.command(
            "token", "--scope", TOKEN_SCOPE, "--client-id", "bench", "--minutes", "720"
        )
        return {"Authorization": f"Bearer {done.stdout.strip().splitlines()[-1]}"}

    @contextmanager
    def serving(self) -> Iterator[Server]:
        """`patientkontrakt serve` until the block ends; its log goes to the folder."""
        origin = f"http://127.0.0.1:{self.env['PK_PORT']}"
        with (self.folder / "server.log").open("wb") as log:
            # Its own process group, so that uvicorn's workers can be stopped with it.
            process = subprocess.Popen(
                [str(CLI), "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_ready(f"{origin}/fhir/metadata", lambda: process.poll() is None, timeout=60)
            yield Server(self.key, self.label, origin, process.pid, self.token_headers())
        finally:
            # As Ctrl-C would; but the last run leaves writes in flight that uvicorn would wait
            # for, and the database is thrown away: a few seconds, then the whole group goes.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@contextmanager
def hapi(postgres: Postgres, database: str, folder: Path) -> Iterator[Server]:
    """The HAPI sandbox on a fresh PostgreSQL database `database`, until the block ends."""
    url = make_url(postgres.fresh(database))
    port = free_port()
    env = {
        **os.environ,
        "HAPI_PORT": str(port),
        "HAPI_SANDBOX_DIR": str(folder),
        "HAPI_DATABASE_URL": f"jdbc:postgresql://{url.host}:{url.port or 5432}/{url.database}",
        "HAPI_DATABASE_USER": url.username or "",
        "HAPI_DATABASE_PASSWORD": url.password or "",
        "HAPI_JAVA_OPTS": HAPI_JAVA_OPTS,
        "HAPI_STOP_TIMEOUT": str(STOP_SECONDS),
    }
    try:
        subprocess.run([str(SANDBOX), "start"], env=env, check=True, stdout=subprocess.DEVNULL)
        pid = int((folder / "hapi.pid").read_text().strip())
        yield Server("hapi", "HAPI FHIR (PostgreSQL)", f"http://127.0.0.1:{port}", pid)
    finally:
        subprocess.run([str(SANDBOX), "stop"], env=env, check=False, stderr=subprocess.DEVNULL)
