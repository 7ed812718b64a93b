"""The differential suite: every search of the battery on our server and on HAPI FHIR, with the
same dataset, must find the same resources in the same order.

A search on which the two servers differ for a reason the specification decides is in
`KNOWN_DIFFERENCES` with that reason; its test asserts the difference itself, so that it fails
when the difference goes away and the entry (and docs/interop.md) must go too.
"""

from __future__ import annotations

import pytest

from tests.interop.battery import BATTERY, Search
from tests.interop.differences import KNOWN_DIFFERENCES
from tests.interop.peers import Answer, Peer


def sort_keys(search: Search, answer: Answer) -> list[object]:
    """The sort key of each match in page order (ties may come in either order)."""
    assert search.sort_key is not None
    return [search.sort_key(answer.resources[key]) for key in answer.matches]


def differences(search: Search, mine: Answer, theirs: Answer) -> list[str]:
    """What differs between the two answers, in words; empty when they agree."""
    found: list[str] = []
    if set(mine.matches) != set(theirs.matches):
        only_mine = sorted(set(mine.matches) - set(theirs.matches))
        only_theirs = sorted(set(theirs.matches) - set(mine.matches))
        found.append(f"matches: only ours {only_mine}, only HAPI's {only_theirs}")
    if len(mine.matches) != len(set(mine.matches)):
        found.append(f"our pages repeat a match: {mine.matches}")
    if search.sort_key is not None and sort_keys(search, mine) != sort_keys(search, theirs):
        found.append(f"order: ours {sort_keys(search, mine)}, HAPI's {sort_keys(search, theirs)}")
    if mine.included != theirs.included:
        found.append(
            f"included: only ours {sorted(mine.included - theirs.included)}, "
            f"only HAPI's {sorted(theirs.included - mine.included)}"
        )
    return found


@pytest.mark.parametrize("search", BATTERY, ids=[s.name for s in BATTERY])
def test_same_answer_as_hapi(search: Search, ours: Peer, hapi: Peer) -> None:
    mine = ours.search(search.query)
    theirs = hapi.search(search.query)
    if search.empty:
        assert mine.matches == (), mine.matches
    else:
        assert mine.matches, f"{search.query} finds nothing on our server: a vacuous comparison"
    found = differences(search, mine, theirs)
    known = KNOWN_DIFFERENCES.get(search.name)
    if known is None:
        assert found == [], "\n".join(found)
    else:
        assert found, f"{search.name} no longer differs: remove it from KNOWN_DIFFERENCES"
        assert known.shows_in(found), "\n".join(found)
