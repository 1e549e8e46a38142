"""One real small search per backend per session: every query command runs against it.

Iris, 7 trials of 4 epochs on the session's local Ray, a median pruner that may stop some, and a
categorical hyperparameter (optimizer) for text filters. PostgreSQL runs when
HPSEARCH_TEST_POSTGRES_URL names a server and skips visibly otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from hpsearch.searcher import parse_config, run_search
from hpsearch.storage import Storage, open_storage

NAME = "iris-q"


def search_config(name: str = NAME, seed: int = 0):
    return parse_config(
        {
            "search": {
                "name": name,
                "trials": 7,
                "workers": 2,
                "sampler": "tpe",
                "sampler_options": {"n_startup_trials": 3},
                "pruner": "median",
                "pruner_options": {"n_startup_trials": 2, "n_warmup_steps": 1},
                "objective": "dev_accuracy",
                "seed": seed,
            },
            "data": {"dataset": "iris", "split": [0.6, 0.2, 0.2]},
            "train": {"epochs": 4, "layers": 1, "batch_size": 16},
            "space": {
                "learning_rate": {"type": "float", "low": 1e-3, "high": 0.1, "log": True},
                "dropout": {"type": "float", "low": 0.0, "high": 0.5},
                "units": {"type": "int", "low": 4, "high": 32},
                "optimizer": ["adam", "momentum"],
            },
        }
    )


@dataclass
class SearchDB:
    """A database holding two finished searches (NAME and NAME + '-b')."""

    backend: str
    url: str
    store: Storage
    name: str = NAME


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def search_db(request, ray_local, tmp_path_factory):
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("query") / "results.db"
        url, cleanup = f"sqlite:///{path}", None
    else:
        from tests.pg_util import SKIP_REASON, create_database, drop_database, postgres_server_url

        if postgres_server_url() is None:
            pytest.skip(SKIP_REASON)
        url = create_database()
        cleanup = drop_database
    store = open_storage(url)
    try:
        run_search(search_config(), store)
        run_search(search_config(NAME + "-b", seed=1), store)
        yield SearchDB(backend=request.param, url=url, store=store)
    finally:
        store.close()
        if cleanup is not None:
            cleanup(url)
