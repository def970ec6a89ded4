"""The embedded MongoDB for local runs and tests: nx-27017 (a MongoDB
wire-protocol server on SQLite), with one correction applied.

nx-27017 0.8.1 / neosqlite 1.17.2 store a datetime written by an update
operator (`$set`, `$min`, `$push`, ...) as a plain string on its fast SQL
path, so the value no longer compares as a date. Updates that carry a
datetime are sent down its Python path instead, which stores real dates.

It also fails every insert into a collection with an index whose key names
`_id` (e.g. {createdAt: -1, _id: -1}, which MongoDB needs for keyset
pagination). Indexes only change speed, not results, so the embedded server
builds such an index without its `_id` part (SQLite rows already carry it).

Its date comparisons go through SQLite's datetime(), which drops fractional
seconds: `createdAt >= 12:00:00.700` also matched 12:00:00.100. The embedded
server's datetime() is replaced by one that keeps milliseconds.

Its Python update path (the one datetimes take) applies $inc, $mul, $min,
$max and $push to a dotted path as a top-level key literally named
"stats.total", so `{$inc: {"stats.total": 1}, $set: {updatedAt: now}}` left
stats.total unchanged. Those are rewritten as the $set they amount to.

tests/conformance checks all four against whatever server MONGODB_URI names.

Run: python -m scripts.devstack.mongo --data-dir DIR -p PORT --pid-file F --log-file L
"""
from __future__ import annotations

import datetime
import socket
import subprocess
import sys
import time
from pathlib import Path


def _has_datetime(value) -> bool:
    if isinstance(value, datetime.datetime):
        return True
    if isinstance(value, dict):
        return any(_has_datetime(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_datetime(v) for v in value)
    return False


def patch_datetime_updates() -> None:
    from neosqlite.collection.query_helper import QueryHelper

    original = QueryHelper._can_use_sql_updates
    if getattr(original, "_outdial_patched", False):
        return

    def can_use_sql_updates(self, update_spec, doc_id, original_doc=None):
        if _has_datetime(update_spec):
            return False
        return original(self, update_spec, doc_id, original_doc)

    can_use_sql_updates._outdial_patched = True
    QueryHelper._can_use_sql_updates = can_use_sql_updates


def patch_id_in_index_keys() -> None:
    from neosqlite.collection.index_manager import IndexManager

    original = IndexManager.create_index
    if getattr(original, "_outdial_patched", False):
        return

    def create_index(self, key, *args, **kwargs):
        if isinstance(key, list):
            key = [part for part in key if (part[0] if isinstance(part, tuple) else part) != "_id"]
            if not key:
                return kwargs.get("name") or "_id_"
        return original(self, key, *args, **kwargs)

    create_index._outdial_patched = True
    IndexManager.create_index = create_index


def _datetime_ms(value):
    """SQLite datetime(x), but keeping milliseconds ('YYYY-MM-DD HH:MM:SS.fff', UTC)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _nested(doc, path: str):
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _dotted_as_set(spec: dict, doc: dict) -> dict:
    """$inc/$mul/$min/$max/$push on dotted paths, rewritten as the $set they amount to."""
    spec, sets = dict(spec), dict(spec.get("$set") or {})
    for op in ("$inc", "$mul", "$min", "$max", "$push"):
        kept = {}
        for path, value in (spec.get(op) or {}).items():
            current = _nested(doc, path)
            if "." not in path or "$" in path or (op == "$push" and isinstance(value, dict) and "$each" in value):
                kept[path] = value
            elif op == "$inc":
                sets[path] = (current or 0) + value
            elif op == "$mul":
                sets[path] = (current or 0) * value
            elif op == "$min":
                sets[path] = value if current is None or value < current else current
            elif op == "$max":
                sets[path] = value if current is None or value > current else current
            else:
                sets[path] = list(current or []) + [value]
        if op in spec:
            if kept:
                spec[op] = kept
            else:
                del spec[op]
    if sets:
        spec["$set"] = sets
    return spec


def patch_dotted_python_updates() -> None:
    from neosqlite.collection.query_helper import QueryHelper

    original = QueryHelper._perform_python_update
    if getattr(original, "_outdial_patched", False):
        return

    def perform_python_update(self, doc_id, update_spec, original_doc, *args, **kwargs):
        return original(self, doc_id, _dotted_as_set(update_spec, original_doc), original_doc, *args, **kwargs)

    perform_python_update._outdial_patched = True
    QueryHelper._perform_python_update = perform_python_update


def patch_subsecond_comparisons() -> None:
    from neosqlite.connection import Connection

    original = Connection._register_custom_functions
    if getattr(original, "_outdial_patched", False):
        return

    def register(self):
        original(self)
        self.db.create_function("datetime", 1, _datetime_ms, deterministic=True)

    register._outdial_patched = True
    Connection._register_custom_functions = register


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def start(data_dir: Path, port: int, *, log=subprocess.DEVNULL) -> subprocess.Popen:
    """Start the server as a child process and wait until it accepts connections."""
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.devstack.mongo", "--data-dir", str(data_dir), "-p", str(port),
         "--pid-file", str(data_dir / "nx-27017.pid"), "--log-file", str(data_dir / "nx-27017.log")],
        cwd=Path(__file__).resolve().parents[2], stdout=log, stderr=log,
    )
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        raise
    return process


def main() -> int:
    patch_datetime_updates()
    patch_id_in_index_keys()
    patch_subsecond_comparisons()
    patch_dotted_python_updates()
    from nx_27017.nx_27017 import main as nx_main

    return nx_main()


if __name__ == "__main__":
    sys.exit(main())
