"""Write the OpenAPI document to docs/openapi.json (CI checks it is current)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.api.openapi import build  # noqa: E402


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    (ROOT / "docs" / "openapi.json").write_text(render())
    print("wrote docs/openapi.json")
