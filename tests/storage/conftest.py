"""Fixtures for the storage contract suite: one ``storage_url`` per backend.

``backend_url`` is parametrised over ``sqlite`` (a file in tmp_path) and ``postgresql`` (a
throw-away database per test on the server named by HPSEARCH_TEST_POSTGRES_URL; skipped with
the reason shown when the variable is unset).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hpsearch.storage import Storage, open_storage
from tests.pg_util import postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hps.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def storage(backend_url: str) -> Iterator[Storage]:
    """An open storage (schema at head) on each backend, with fast retries."""
    with open_storage(backend_url, retry_backoff_s=0.01) as st:
        yield st
