"""hps_searches.seeded_from (a warm start's sources and counts) on every backend."""

from __future__ import annotations

import pytest

from hpsearch.storage import SearchNotFoundError, Storage

SEEDED = {"from": ["digits-quick"], "used": 42, "skipped": {"outside the space": 5}, "top": 3}


def test_seeded_from_is_stored_read_and_replaced(storage: Storage) -> None:
    plain = storage.create_search("plain", config={"search": {"name": "plain"}})
    assert plain.seeded_from is None
    made = storage.create_search("warm", config={"search": {"name": "warm"}}, seeded_from=SEEDED)
    assert made.seeded_from == SEEDED
    assert storage.get_search("warm").seeded_from == SEEDED
    listed = {s.name: s.seeded_from for s in storage.list_searches()}
    assert listed == {"plain": None, "warm": SEEDED}
    again = SEEDED | {"used": 40, "missing": ["gone"]}
    storage.set_seeded_from("warm", again)  # a resume read its sources again
    assert storage.get_search("warm").seeded_from == again
    storage.set_seeded_from("warm", None)
    assert storage.get_search("warm").seeded_from is None
    with pytest.raises(SearchNotFoundError):
        storage.set_seeded_from("nowhere", SEEDED)
