"""Search names: surrounding spaces are stripped when stored and when looked up, the same rule
for every caller (issue 16, defect 11: a name stored stripped used to be looked up unstripped)."""

from __future__ import annotations

from hpsearch.storage import Storage


def test_a_name_is_stored_and_found_without_its_surrounding_spaces(storage: Storage) -> None:
    created = storage.create_search(
        "  padded  ", config={}, objectives=["dev_loss"], directions=["minimize"]
    )
    assert created.name == "padded"
    assert storage.get_search("padded").id == created.id
    assert storage.get_search("  padded ").id == created.id
    assert storage.get_search("\tpadded\n").id == created.id
