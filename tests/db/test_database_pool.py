"""The PostgreSQL pool of the server's engine follows PK_DATABASE_POOL_SIZE and
PK_DATABASE_MAX_OVERFLOW (store/database.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.pool import QueuePool

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from tests.conftest import postgres_url

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def test_the_server_pool_has_the_configured_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PK_DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("PK_DATABASE_MAX_OVERFLOW", "3")
    settings = Settings(database_url=postgres_url(), data_dir=tmp_path)
    app = create_app(settings)
    pool = app.state.server.store.engine.pool
    try:
        assert isinstance(pool, QueuePool)
        assert pool.size() == 7
        assert "Pool size: 7" in pool.status()
        assert pool._max_overflow == 3
    finally:
        await app.state.server.store.dispose()


def test_pool_settings_refuse_nonsense(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="database_pool_size"):
        Settings(database_pool_size=0, data_dir=tmp_path)
