"""Free-form client data (metadata, variables): anything JSON that MongoDB
can store and give back unchanged, within limits that keep documents small."""
from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import AfterValidator

MAX_DEPTH = 8
MAX_BYTES = 16 * 1024
INT64 = 2**63


def _check(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not key or key.startswith("$") or "." in key or "\x00" in key:
                raise ValueError(f"key {key[:40]!r} must be non-empty, not start with '$', "
                                 "and contain no '.' or NUL")
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not -INT64 <= value < INT64:
            raise ValueError("integers must fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    else:
        raise ValueError(f"unsupported value of type {type(value).__name__}")


def _valid(value: dict[str, Any]) -> dict[str, Any]:
    _check(value)
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES // 1024} KB")
    return value


FreeForm = Annotated[dict[str, Any], AfterValidator(_valid)]
