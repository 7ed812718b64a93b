"""A small ASGI app served by uvicorn in a thread, for tests that need a real HTTP peer (a token
endpoint, a FHIR server that answers 429 or 503 on cue)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from tests.service_process import free_port


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """`app` on a free loopback port while the block runs; its origin, `http://127.0.0.1:PORT`."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        assert thread.is_alive(), "the test server stopped"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
