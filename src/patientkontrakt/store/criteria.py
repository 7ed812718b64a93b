"""Search criteria as plain data, shared by the FHIR layer (which parses) and the store (SQL)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TokenValue:
    """One token search value: `system|code`, `|code` (no system), `code` or `system|`."""

    system: str | None
    code: str | None
    # True when the value had a `|`: the system then constrains, even when empty.
    has_system: bool


@dataclass(frozen=True)
class Criteria:
    """AND of parameters, each an OR of values."""

    resource_type: str
    ids: list[list[str]] = field(default_factory=list)
    tokens: list[tuple[str, list[TokenValue]]] = field(default_factory=list)

    def is_empty(self) -> bool:
        """True when no criterion was given."""
        return not self.ids and not self.tokens
