"""Test-session set-up shared by every folder.

Ray starts once per session (each start costs seconds) with its token file in a temporary
directory, so tests never touch ~/.ray and token authentication stays on.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

# One BLAS thread in the test process, as in every trial's worker: on 2 shared cores, more
# threads only fight each other (small networks ran ~10x slower under load).
_BLAS = threadpool_limits(limits=1)

_RAY_DIR = Path(tempfile.mkdtemp(prefix="hpsearch-test-ray-"))
_TOKEN = _RAY_DIR / "auth_token"
_TOKEN.write_text(secrets.token_hex(32))
os.environ["RAY_AUTH_TOKEN_PATH"] = str(_TOKEN)
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.pop("HPSEARCH_STORAGE", None)
os.environ.pop("RAY_ADDRESS", None)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_token_path() -> Path:
    """The token file every Ray process of this test session uses."""
    return _TOKEN


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance (2 CPUs) for the whole session."""
    import logging

    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",  # always a new instance, never another Ray found on the machine
            num_cpus=2,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    yield ray
    ray.shutdown()


@pytest.fixture
def definition_file(tmp_path):
    """``write(doc, name="search.toml") -> Path``: a search definition (a dict, e.g. from
    ``tests.definitions.iris_definition``) written as TOML in the test's folder."""
    import tomli_w

    def write(doc: dict, name: str = "search.toml") -> Path:
        path = tmp_path / name
        path.write_text(tomli_w.dumps(doc), encoding="utf-8")
        return path

    return write
