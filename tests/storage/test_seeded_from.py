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


def test_searches_lists_it_in_every_format(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from hpsearch.cli import app
    from hpsearch.storage import open_storage

    url = f"sqlite:///{tmp_path / 'r.db'}"
    with open_storage(url) as st:
        st.create_search("early", config={})
        st.create_search("later", config={}, seeded_from=SEEDED)
    run = CliRunner().invoke
    rows = json.loads(run(app, ["searches", "--storage", url, "--format", "json"]).stdout)
    assert [r["seeded_from"] for r in rows] == [None, SEEDED]
    csv = run(app, ["searches", "--storage", url, "--format", "csv"]).stdout.splitlines()
    assert csv[0].endswith(",seeded_from") and csv[1].endswith(",")
    assert csv[2].endswith(
        '"{""from"": [""digits-quick""], ""used"": 42, ""skipped"": '
        '{""outside the space"": 5}, ""top"": 3}"'
    )
    table = run(app, ["searches", "--storage", url], env={"COLUMNS": "200"}).stdout
    assert "seeded from" in table and "digits-quick (42 used)" in table
