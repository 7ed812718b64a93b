"""The app `patientkontrakt serve` runs freezes its worker's heap once started; the app the
tests make does not. Each case runs in a process of its own: a frozen heap is never collected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.service_process import free_port, run_command, server_env

# Starts the app's lifespan, reads /healthz, prints what the collector sees afterwards.
SCRIPT = """
import gc, sys
from starlette.testclient import TestClient
from patientkontrakt.app import create_app, create_served_app
from patientkontrakt.fhir.registry import RESOURCE_TYPES, _model_class

app = create_served_app() if sys.argv[1] == "served" else create_app()
with TestClient(app) as client:
    status = client.get("/healthz").status_code
    print(status, gc.get_freeze_count(), _model_class.cache_info().currsize, len(RESOURCE_TYPES))
"""


def _started(tmp_path: Path, kind: str) -> tuple[int, int, int, int]:
    env = server_env(tmp_path, free_port(), PK_DEMO_DATA="0")
    run_command(env, "migrate")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, kind],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    status, frozen, models, types = (int(n) for n in done.stdout.split())
    return status, frozen, models, types


def test_served_app_freezes_what_start_up_built(tmp_path: Path) -> None:
    status, frozen, models, types = _started(tmp_path, "served")
    assert status == 200
    # The models, profiles and search parameters alone are far more than this.
    assert frozen > 50_000
    assert models == types  # every supported type's model class built before the freeze


def test_app_made_by_tests_leaves_the_heap_alone(tmp_path: Path) -> None:
    status, frozen, _models, _types = _started(tmp_path, "plain")
    assert status == 200
    assert frozen == 0
