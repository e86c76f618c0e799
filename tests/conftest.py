"""Shared fixtures: database URLs for both backends, the recorded Kraken exchange."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/recorded_exchange.py

IN_CI = bool(os.environ.get("CI"))
PG_URL = os.environ.get("JARVIS_TEST_PG_URL")


def require_service(what: str, why: str):
    """Skip locally with a reason; in CI a missing service is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI: {why}")
    pytest.skip(f"{what} not available: {why}")


class Heartbeat:
    """``async with Heartbeat() as pulse``: counts the event loop's 10 ms beats in ``pulse.beats``
    while the block runs (a call that blocks the loop lets none through)."""

    def __init__(self):
        self.beats = 0

    async def _beat(self):
        while True:
            self.beats += 1
            await asyncio.sleep(0.01)

    async def __aenter__(self):
        self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(self, *exc):
        self._task.cancel()


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL schema-less database URL (tables are namespaced per test)."""
    if not PG_URL:
        require_service("PostgreSQL", "set JARVIS_TEST_PG_URL (.ci/run starts a server)")
    import sqlalchemy as sa

    base = sa.engine.make_url(PG_URL)
    name = f"jarvis_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # the server is configured but not answering
        admin.dispose()
        require_service("PostgreSQL", f"cannot create a database at {base!r}: {exc}")
    url = base.set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The same test on a real SQLite file and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jarvis.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def recorded_kraken():
    """Factory for RecordedKraken instances (or a subclass: ``cls=``), closed after the test."""
    from recorded_exchange import RecordedKraken

    made = []

    def make(cls=RecordedKraken, **kwargs):
        ex = cls(**kwargs)
        made.append(ex)
        return ex

    yield make
    for ex in made:
        if ex.session is not None and not ex.closed:
            asyncio.run(ex.close())
