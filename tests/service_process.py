"""`patientkontrakt serve` as a real process for the tests that speak HTTP to it (e2e, interop).

No DATABASE_URL is given, so the service uses its default SQLite file under PK_DATA_DIR.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

COMMAND = Path(sys.executable).parent / "patientkontrakt"
STARTUP_TIMEOUT = 20.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """The test process's environment without any service setting, plus our own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PK_") and key != "DATABASE_URL"
    }
    env.update(PK_DATA_DIR=str(data_dir), PK_PORT=str(port), PK_HOST="127.0.0.1", **settings)
    return env


def run_command(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    """Run `patientkontrakt ARGS` with `env`; its standard output, or the test fails."""
    assert COMMAND.is_file(), f"{COMMAND} is missing: install the package (make test does)"
    done = subprocess.run(
        [str(COMMAND), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def bearer_token(env: dict[str, str]) -> str:
    """A full-access development token for the server run with `env` (PK_AUTH_MODE=dev, the
    key under its PK_DATA_DIR), made by the `patientkontrakt token` command."""
    token = run_command(env, "token", "--scope", "system/*.cruds").strip().splitlines()[-1]
    assert token.count(".") == 2, token  # a JWT
    return token


@dataclass
class Server:
    """A running service: its base URL, data dir, log file and system token."""

    base: str
    data_dir: Path
    log: Path
    token: str = ""
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header of the system token."""
        return {"Authorization": f"Bearer {self.token}"}

    def stopped_output(self) -> str:
        """The whole log, once the server has stopped (so every line is written)."""
        if self.process is not None:
            stop(self.process)
        return self.output()


@contextmanager
def running_service(directory: Path, **settings: str) -> Iterator[Server]:
    """Migrate a data dir under `directory`, serve it, and stop the server afterwards."""
    data_dir = directory / "data"
    port = free_port()
    env = server_env(data_dir, port, **settings)
    run_command(env, "migrate")
    assert (data_dir / "patientkontrakt.db").is_file()
    token = bearer_token(env)
    log = directory / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(COMMAND), "serve"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    running = Server(f"http://127.0.0.1:{port}/fhir", data_dir, log, token, port, process)
    try:
        wait_until_up(process, running)
        yield running
    finally:
        stop(process)


def wait_until_up(process: subprocess.Popen[bytes], running: Server) -> None:
    """Return when `/metadata` answers; fail the test with the log if the server never does."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{running.output()}")
        try:
            if httpx.get(f"{running.base}/metadata", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"serve did not answer within {STARTUP_TIMEOUT} s:\n{running.output()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server as Ctrl-C would, killing it if it does not go."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
