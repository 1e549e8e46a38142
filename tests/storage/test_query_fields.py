"""Query errors name the option they concern in ``field`` (the command line maps it to a flag)."""

from __future__ import annotations

import pytest

from hpsearch.storage import Storage
from hpsearch.storage._query import QueryError, parse_filter, parse_sort, parse_states


@pytest.mark.parametrize(
    ("parse", "text", "field"),
    [
        (parse_filter, "", "where"),
        (parse_filter, "dropout >", "where"),
        (parse_filter, "x > 1e999", "where"),
        (parse_sort, "dev_loss:sideways", "sort"),
        (parse_sort, "1abc", "sort"),
        (lambda t: parse_states([t]), "complete,done", "state"),
    ],
)
def test_parse_errors_carry_their_field(parse, text: str, field: str) -> None:
    with pytest.raises(QueryError) as err:
        parse(text)
    assert err.value.field == field and str(err.value).startswith(f"--{field}")


def test_query_errors_carry_their_field(storage: Storage) -> None:
    sid = storage.create_search("q", config={}).id
    storage.start_trial(sid, 0, {"lambda": 0.01, "optimizer": "adam", "units": [4, 2]})
    assert [t.number for t in storage.query_trials(sid, where=["lambda < 0.1"])] == [0]
    assert [t.number for t in storage.query_trials(sid, sort="lambda:desc")] == [0]
    cases = [
        ({"where": ["nope = 1"]}, "where"),
        ({"where": ["optimizer > adam"]}, "where"),
        ({"where": ["units = 4"]}, "where"),
        ({"where": ["state = done"]}, "where"),
        ({"sort": "nope"}, "sort"),
        ({"limit": 0}, "top"),
    ]
    for kwargs, field in cases:
        with pytest.raises(QueryError) as err:
            storage.query_trials(sid, **kwargs)
        assert err.value.field == field, kwargs
