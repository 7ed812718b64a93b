"""docs/interop.md lists the differential battery and its known differences as they are.

The table is rendered from `battery.BATTERY` and must appear in the doc verbatim; every known
difference must be named in it. On a change, paste the table the failure prints.
"""

from __future__ import annotations

from pathlib import Path

from tests.interop.battery import BATTERY
from tests.interop.differences import KNOWN_DIFFERENCES

DOC = Path(__file__).parents[2] / "docs" / "interop.md"


def battery_table() -> str:
    """The Markdown table of the battery: name, query, what it tests, the outcome."""
    rows = ["| search | query | tests | answer |", "|---|---|---|---|"]
    for search in BATTERY:
        query = search.query.replace("|", "\\|")
        outcome = "differs, see below" if search.name in KNOWN_DIFFERENCES else "same"
        if search.sort_key is not None and outcome == "same":
            outcome = "same, same order"
        rows.append(f"| `{search.name}` | `{query}` | {search.kind} | {outcome} |")
    return "\n".join(rows) + "\n"


def test_the_doc_lists_the_battery() -> None:
    assert len(BATTERY) >= 60
    assert battery_table() in DOC.read_text(encoding="utf-8"), battery_table()


def test_the_doc_explains_every_known_difference() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in KNOWN_DIFFERENCES:
        assert f"**`{name}`**" in text, name
