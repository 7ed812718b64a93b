"""docs/contract-model.md quotes the example contract; the quote must stay the real file."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_documented_example_is_the_example_file() -> None:
    doc = (ROOT / "docs" / "contract-model.md").read_text()
    quoted = re.search(r"<summary>contract-bundle.json</summary>\s*```json\n(.*?)\n```", doc, re.S)
    assert quoted is not None
    example = (ROOT / "fhir_profiles" / "examples" / "contract-bundle.json").read_text()
    assert json.loads(quoted.group(1)) == json.loads(example)
