"""Where the product's conformance data lives (`fhir_profiles/`) and the canonical base its
URLs are published under.

`fhir_profiles/` is written with `DEFAULT_CANONICAL_BASE`; with `PK_CANONICAL_BASE` set to
another base, `rebase` moves every URL in it under that base, for validation, the served copies
and the search parameters alike.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

from patientkontrakt.config import get_settings
from patientkontrakt.contract.vocabulary import DEFAULT_CANONICAL_BASE


def profiles_dir() -> Path:
    """`fhir_profiles/` of a source checkout, or the copy packaged inside the wheel."""
    source = Path(__file__).resolve().parents[2] / "fhir_profiles"
    if source.is_dir():
        return source
    return Path(str(resources.files("patientkontrakt") / "fhir_profiles"))


def rebase(value: Any, base: str, default: str = DEFAULT_CANONICAL_BASE) -> Any:
    """`value` (any JSON) with every string under `default` moved under `base`; a new copy.

    A string is under the base when it equals it or continues with `/`, `|` or `#`, so
    `https://patientkontrakt.se/fhirx` is left alone. URLs quoted inside a string (a search
    expression's `where(url='...')`) move too.
    """
    base = base.rstrip("/")
    default = default.rstrip("/")
    if base == default:
        return copy.deepcopy(value)
    return _rebase(value, base, default)


def _rebase(value: Any, base: str, default: str) -> Any:
    if isinstance(value, str):
        if value == default or (value.startswith(default) and value[len(default)] in "/|#"):
            return base + value[len(default) :]
        return value.replace(f"'{default}/", f"'{base}/")
    if isinstance(value, dict):
        return {key: _rebase(item, base, default) for key, item in value.items()}
    if isinstance(value, list):
        return [_rebase(item, base, default) for item in value]
    return value


_configured_base: str | None = None


def configure(canonical_base: str) -> None:
    """Use `canonical_base` (`PK_CANONICAL_BASE`) for the product's profiles from now on."""
    global _configured_base
    _configured_base = canonical_base.rstrip("/")


def canonical_base() -> str:
    """The canonical base in use."""
    return _configured_base or get_settings().canonical_base.rstrip("/")
