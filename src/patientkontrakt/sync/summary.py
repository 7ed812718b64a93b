"""What a push or pull did: each transaction-response entry counted as created, updated or
unchanged (`resources.entry_outcome`), in all and per resource type."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from patientkontrakt.sync.client import SyncError
from patientkontrakt.sync.resources import Keyed, entry_outcome

OUTCOMES = ("created", "updated", "unchanged")


@dataclass
class Totals:
    """What a push or pull did, per outcome (`created`, `updated`, `unchanged`)."""

    patients: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_type: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, resource_type: str, outcome: str) -> None:
        self.outcomes[outcome] += 1
        self.by_type.setdefault(resource_type, Counter())[outcome] += 1

    def line(self) -> str:
        """`12 created, 30 updated, 4 unchanged`."""
        return ", ".join(f"{self.outcomes[o]} {o}" for o in OUTCOMES)

    def lines(self, what: str) -> list[str]:
        """A summary: totals, then one line per resource type."""
        head = f"{what}: {self.patients} patient(s), {sum(self.outcomes.values())} resources: "
        rows = [
            f"  {t:<18}{c['created']:>6} created{c['updated']:>6} updated"
            f"{c['unchanged']:>6} unchanged"
            for t, c in sorted(self.by_type.items())
        ]
        return [head + self.line(), *rows]


def count_outcomes(
    bundle: dict[str, Any], keyed: list[Keyed], answer: dict[str, Any], totals: Totals
) -> Counter[str]:
    """Add each entry's outcome (from the transaction-response) to `totals`; this Bundle's."""
    responses = answer.get("entry", [])
    if len(responses) != len(keyed):
        raise SyncError(
            f"the transaction-response has {len(responses)} entries for {len(keyed)} sent"
        )
    these: Counter[str] = Counter()
    for entry, response, k in zip(bundle["entry"], responses, keyed, strict=True):
        outcome = entry_outcome(entry, response if isinstance(response, dict) else {})
        these[outcome] += 1
        totals.add(k.resource_type, outcome)
    return these
